"""Wiring of the CA hierarchy: root(s), one intermediate and one cacerts Secret per cluster.

`meshbridge:ca.backend` chooses who holds the keys (docs/pki.md):
- `pulumi-tls` (default): `meshbridge:ca.roots` lists the roots (default one, `root`); every listed
  root is in the `root-cert.pem` bundle of every cluster, and `activeRoot` signs the intermediates.
  The three-step rotation (add new root, switch activeRoot, drop the old root) is in docs/runbook.md.
- `cert-manager`: cert-manager (its chart, unless `certManager.install.enabled` is false) issues
  each cluster's intermediate into `cacerts` from the user's issuer; the root is the one
  `certManager.rootCertificatePem` gives, and no CA key is in Pulumi state.
- `aws-pca`: AWS Private CA holds the root (created here, in the account and region of
  `awsPca.cluster`, or an existing one by ARN); on every cluster cert-manager and
  aws-privateca-issuer, through an IAM role only that cluster's issuer can assume, have it sign the
  cluster's intermediate into `cacerts`. No CA key is in Pulumi state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from components.awspca import (
    CLUSTER_ISSUER_NAME,
    PCA_CLUSTER_ISSUER,
    PCA_GROUP,
    CaAccessPolicy,
    CaAccessPolicyArgs,
    PcaIssuer,
    PcaIssuerArgs,
    PcaIssuerRole,
    PcaIssuerRoleArgs,
    PrivateRootCa,
    PrivateRootCaArgs,
)
from components.certmanager import CertManager, CertManagerArgs, ClusterCa, ClusterCaArgs, IssuerRef
from components.cluster import MeshCluster
from components.constants import arn_partition, partition
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
from stacks.config.model import AwsPcaSettings, CertManagerInstall, MeshConfig

TLS_PROVIDER = "pki-tls"


@dataclass
class Pki:
    """What the other parts use: `cacerts[cluster]` (istiod depends on it) and `multi_root`."""

    backend: str
    provider: Optional[tls.Provider] = None  # pulumi-tls
    active_root: str = ""
    roots: dict[str, RootCa] = field(default_factory=dict)
    intermediates: dict[str, IntermediateCa] = field(default_factory=dict)
    cacerts_components: dict[str, CaCerts] = field(default_factory=dict)
    # cert-manager: per cluster its chart (when installed) and its Certificate writing `cacerts`
    cert_managers: dict[str, CertManager] = field(default_factory=dict)
    cluster_cas: dict[str, ClusterCa] = field(default_factory=dict)
    # aws-pca: the root CA (None: an existing one by ARN), its ARN and region, per cluster the
    # issuer's IAM role and chart
    private_root: Optional[PrivateRootCa] = None
    pca_arn: Optional[pulumi.Input[str]] = None
    pca_region: str = ""
    pca_roles: dict[str, PcaIssuerRole] = field(default_factory=dict)
    pca_issuers: dict[str, PcaIssuer] = field(default_factory=dict)
    # cluster -> what istiod waits for: the `cacerts` Secret, or the Certificate that writes it
    cacerts: dict[str, pulumi.Resource] = field(default_factory=dict)
    # every listed root, in config order: root-cert.pem of every cluster (public)
    root_bundle_pem: pulumi.Output[str] = field(default_factory=lambda: pulumi.Output.from_input(""))

    @property
    def multi_root(self) -> bool:
        """More than one root listed: istiod needs ISTIO_MULTIROOT_MESH=true (rotation in progress)."""
        return len(self.roots) > 1

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        if name in self.pca_roles:
            return {"pcaIssuerRoleArn": self.pca_roles[name].arn}
        if name not in self.intermediates:  # cert-manager renews it in the cluster: not in Pulumi's view
            return {}
        intermediate = self.intermediates[name]
        return {"intermediateCertificatePem": intermediate.cert_pem, "intermediateExpires": intermediate.expires}

    def stack_outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {"rootCertificatePem": self.root_bundle_pem, "caBackend": self.backend}
        if self.pca_arn is not None:
            outputs["awsPca"] = {"certificateAuthorityArn": self.pca_arn, "region": self.pca_region}
        return outputs


def wire_pki(cfg: MeshConfig, clusters: Clusters) -> Pki:
    """The CA of the backend the configuration names."""
    if cfg.ca.backend == "cert-manager":
        return wire_cert_manager(cfg, clusters)
    if cfg.ca.backend == "aws-pca":
        return wire_aws_pca(cfg, clusters)
    return wire_pulumi_tls(cfg, clusters)


def ca_key(cfg: MeshConfig) -> KeySpec:
    ca = cfg.ca
    return KeySpec(algorithm=ca.key_algorithm, rsa_bits=ca.rsa_bits, ecdsa_curve=ca.ecdsa_curve)


def root_fingerprint(pem: str) -> str:
    """SHA-256 of the DER of the first certificate in `pem`, hex (what `openssl x509 -fingerprint
    -sha256` shows, without colons)."""
    cert = x509.load_pem_x509_certificates(pem.encode())[0]
    return cert.fingerprint(hashes.SHA256()).hex()


def wire_cert_manager(cfg: MeshConfig, clusters: Clusters) -> Pki:
    """Per cluster: cert-manager's chart (unless installed already), then the Certificate (and the
    CA Issuer, with `caSecretName`) that writes `cacerts`. The root bundle is the configured one."""
    cm = cfg.ca.cert_manager
    assert cm is not None  # stacks.config.checks refuses cert-manager without it
    pki = Pki(backend="cert-manager")
    pki.root_bundle_pem = pulumi.Output.from_input(cm.root_certificate_pem.rstrip("\n") + "\n")
    issuer = cm.issuer
    ref = IssuerRef(name=issuer.name, kind=issuer.kind, group=issuer.group) if issuer.name and issuer.kind else None
    fingerprint = root_fingerprint(cm.root_certificate_pem)
    key = ca_key(cfg)
    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        after = install_cert_manager(pki, spec.name, cluster, cm.install)
        issue_cacerts(
            pki,
            cfg,
            spec.name,
            cluster,
            key,
            issuer=ref,
            ca_secret_name=issuer.ca_secret_name,
            root_fingerprint=fingerprint,
            depends_on=after,
        )
    return pki


def issue_cacerts(pki: Pki, cfg: MeshConfig, name: str, cluster: MeshCluster, key: KeySpec, **issuer: Any) -> ClusterCa:
    """The Certificate that has cert-manager write the cluster's `cacerts` (ca.backend cert-manager
    and aws-pca), shaped by `meshbridge:ca`; `issuer` holds the backend's ClusterCaArgs (who signs,
    which root, what to wait for)."""
    ca = ClusterCa(
        names.cacerts(name),
        ClusterCaArgs(
            cluster=name,
            key=key,
            organization=cfg.ca.organization,
            validity_hours=cfg.ca.intermediate_validity_hours,
            renew_before_hours=cfg.ca.early_renewal_hours,
            provider=cluster.k8s_provider,
            namespace=cluster.istio_namespace,
            **issuer,
        ),
        opts=pulumi.ResourceOptions(parent=cluster),
    )
    pki.cluster_cas[name] = ca
    pki.cacerts[name] = ca.certificate
    return ca


def install_cert_manager(pki: Pki, name: str, cluster: MeshCluster, install: CertManagerInstall) -> tuple[Any, ...]:
    """cert-manager's chart on one cluster, unless it is installed already: what waits for it."""
    if not install.enabled:
        return ()
    installed = CertManager(
        names.cert_manager(name),
        CertManagerArgs(
            version=install.version,
            repository=install.repository,
            namespace=install.namespace,
            provider=cluster.k8s_provider,
        ),
        opts=pulumi.ResourceOptions(parent=cluster),
    )
    pki.cert_managers[name] = installed
    return (installed.ready,)


def wire_aws_pca(cfg: MeshConfig, clusters: Clusters) -> Pki:
    """The root CA in AWS Private CA (or the existing one), per cluster the issuer's IAM role, the
    created CA's resource policy admitting every role, then per cluster cert-manager,
    aws-privateca-issuer and the Certificate that writes `cacerts` (after the CA and its policy)."""
    ca = cfg.ca
    settings = ca.aws_pca or AwsPcaSettings()
    pki = Pki(backend="aws-pca")
    key = ca_key(cfg)
    fingerprint = ""
    ready: tuple[Any, ...] = ()
    if settings.certificate_authority_arn is not None:
        arn = settings.certificate_authority_arn
        assert settings.root_certificate_pem is not None  # stacks.config.checks requires it with an ARN
        pki.pca_arn, pki.pca_region, ca_partition = arn, arn.split(":")[3], arn_partition(arn)
        pki.root_bundle_pem = pulumi.Output.from_input(settings.root_certificate_pem.rstrip("\n") + "\n")
        fingerprint = root_fingerprint(settings.root_certificate_pem)
    else:
        home = next(c for c in cfg.clusters if c.name == (settings.cluster or cfg.clusters[0].name))
        ca_partition = partition(home.region)
        root = PrivateRootCa(
            names.private_root_ca(),
            PrivateRootCaArgs(
                key=key,
                organization=ca.organization,
                validity_days=ca.root_validity_hours // 24,
                partition=ca_partition,
                provider=clusters[home.name].aws_provider,
                protect=ca.protect_root,
            ),
        )
        pki.private_root, pki.pca_arn, pki.pca_region = root, root.arn, home.region
        pki.root_bundle_pem = root.cert_pem.apply(lambda pem: pem.rstrip("\n") + "\n")
        ready = (root.ready,)
    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        oidc = clusters.inputs[spec.name].oidc_provider_arn
        assert oidc is not None  # stacks.config.checks requires it with aws-pca
        pki.pca_roles[spec.name] = PcaIssuerRole(
            names.pca_issuer_role(spec.name),
            PcaIssuerRoleArgs(
                cluster=spec.name,
                oidc_provider_arn=oidc,
                namespace=settings.cert_manager.namespace,
                ca_arn=pki.pca_arn,
                partition=ca_partition,
                provider=cluster.aws_provider,
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    if settings.certificate_authority_arn is None:
        # a role of another account issues only once the CA's own policy admits it
        policy = CaAccessPolicy(
            names.pca_access_policy(),
            CaAccessPolicyArgs(
                ca_arn=pki.pca_arn,
                role_arns=[r.arn for r in pki.pca_roles.values()],
                partition=ca_partition,
                provider=clusters[home.name].aws_provider,
            ),
            opts=pulumi.ResourceOptions(parent=root),
        )
        ready = (*ready, policy)
    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        after = install_cert_manager(pki, spec.name, cluster, settings.cert_manager)
        issuer = PcaIssuer(
            names.pca_issuer(spec.name),
            PcaIssuerArgs(
                version=settings.issuer.version,
                repository=settings.issuer.repository,
                namespace=settings.cert_manager.namespace,
                role_arn=pki.pca_roles[spec.name].arn,
                ca_arn=pki.pca_arn,
                ca_region=pki.pca_region,
                provider=cluster.k8s_provider,
                depends_on=after,
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
        pki.pca_issuers[spec.name] = issuer
        issue_cacerts(
            pki,
            cfg,
            spec.name,
            cluster,
            key,
            issuer=IssuerRef(name=CLUSTER_ISSUER_NAME, kind=PCA_CLUSTER_ISSUER, group=PCA_GROUP),
            root_fingerprint=fingerprint,
            root_ca_arn=pki.pca_arn,
            depends_on=(*after, issuer.ready, issuer.cluster_issuer, *ready),
        )
    return pki


def wire_pulumi_tls(cfg: MeshConfig, clusters: Clusters) -> Pki:
    """The roots (one tls.Provider for all), then per cluster its intermediate and `cacerts` Secret."""
    ca = cfg.ca
    key = ca_key(cfg)
    provider = tls.Provider(TLS_PROVIDER)
    pki = Pki(backend="pulumi-tls", provider=provider, active_root=ca.active)

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
