"""Wiring of the CA hierarchy: root(s), one intermediate and one cacerts Secret per cluster.

`meshbridge:ca.roots` lists the roots (default one, `root`); every listed root is in the
`root-cert.pem` bundle of every cluster, and `activeRoot` signs the intermediates. The three-step
rotation (add new root, switch activeRoot, drop the old root) is in docs/runbook.md; the shape of
the certificates in docs/architecture.md, "Certificate authority".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.pki import (
    CaCerts,
    CaCertsArgs,
    IntermediateCa,
    IntermediateCaArgs,
    KeySpec,
    RootCa,
    RootCaArgs,
    concat_pem,
)
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig

TLS_PROVIDER = "pki-tls"


@dataclass
class Pki:
    """What the other parts use: `cacerts[cluster]` (istiod depends on it) and `multi_root`."""

    provider: tls.Provider
    active_root: str
    roots: dict[str, RootCa] = field(default_factory=dict)
    intermediates: dict[str, IntermediateCa] = field(default_factory=dict)
    cacerts_components: dict[str, CaCerts] = field(default_factory=dict)
    # cluster -> its `cacerts` Secret in istio-system
    cacerts: dict[str, k8s.core.v1.Secret] = field(default_factory=dict)
    # every listed root, in config order: root-cert.pem of every cluster (public)
    root_bundle_pem: pulumi.Output[str] = field(default_factory=lambda: pulumi.Output.from_input(""))

    @property
    def multi_root(self) -> bool:
        """More than one root listed: istiod needs ISTIO_MULTIROOT_MESH=true (rotation in progress)."""
        return len(self.roots) > 1

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        intermediate = self.intermediates[name]
        return {"intermediateCertificatePem": intermediate.cert_pem, "intermediateExpires": intermediate.expires}

    def stack_outputs(self) -> dict[str, Any]:
        return {"rootCertificatePem": self.root_bundle_pem}


def wire_pki(cfg: MeshConfig, clusters: Clusters) -> Pki:
    """The roots (one tls.Provider for all), then per cluster its intermediate and `cacerts` Secret."""
    ca = cfg.ca
    key = KeySpec(algorithm=ca.key_algorithm, rsa_bits=ca.rsa_bits, ecdsa_curve=ca.ecdsa_curve)
    provider = tls.Provider(TLS_PROVIDER)
    pki = Pki(provider=provider, active_root=ca.active)

    for root in ca.roots:
        pki.roots[root.name] = RootCa(
            names.root_ca(root.name),
            RootCaArgs(
                root_name=root.name,
                key=key,
                organization=ca.organization,
                validity_hours=ca.root_validity_hours,
                provider=provider,
                protect=ca.protect_root,
            ),
        )
    pki.root_bundle_pem = concat_pem([r.cert_pem for r in pki.roots.values()])
    active = pki.roots[pki.active_root]

    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        intermediate = IntermediateCa(
            names.intermediate_ca(spec.name),
            IntermediateCaArgs(
                cluster=spec.name,
                key=key,
                organization=ca.organization,
                validity_hours=ca.intermediate_validity_hours,
                early_renewal_hours=ca.early_renewal_hours,
                issuer_cert_pem=active.cert_pem,
                issuer_key_pem=active.private_key_pem,
                provider=provider,
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
        pki.intermediates[spec.name] = intermediate
        cacerts = CaCerts(
            names.cacerts(spec.name),
            CaCertsArgs(
                ca_cert_pem=intermediate.cert_pem,
                ca_key_pem=intermediate.private_key_pem,
                root_cert_pem=pki.root_bundle_pem,
                cert_chain_pem=concat_pem([intermediate.cert_pem, active.cert_pem]),
                provider=cluster.k8s_provider,
                namespace=cluster.istio_namespace,
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
        pki.cacerts_components[spec.name] = cacerts
        pki.cacerts[spec.name] = cacerts.secret
    return pki
