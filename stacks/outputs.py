"""The stack outputs contract (docs/outputs.md). Bump OUTPUTS_VERSION on any breaking change."""

from __future__ import annotations

from typing import Any

import pulumi

from components.constants import GATEWAY_PORT
from stacks.istio import istio_outputs
from stacks.mesh import Mesh
from stacks.telemetry import observability_outputs
from stacks.workloads import workload_outputs

OUTPUTS_VERSION = 1


def cluster_outputs(mesh: Mesh, name: str) -> dict[str, Any]:
    cfg = mesh.config
    spec = cfg.cluster(name)
    return {
        "clusterName": name,
        "network": spec.network,
        "region": spec.region,
        "zone": spec.zone,
        "accountId": mesh.clusters.inputs[name].account_id,
        "labels": dict(spec.labels),
        "gatewayPort": GATEWAY_PORT,
        **mesh.pki.cluster_outputs(name),
        **istio_outputs(cfg, mesh.control_planes, mesh.eastwest, name),
        **mesh.network.cluster_outputs(name),
        **mesh.exports.cluster_outputs(name),
        **mesh.imports.cluster_outputs(name),
        **mesh.discovery.cluster_outputs(name),
        **mesh.checks.cluster_outputs(name),
    }


def build_outputs(mesh: Mesh) -> dict[str, Any]:
    cfg = mesh.config
    return {
        "outputsVersion": OUTPUTS_VERSION,
        "mesh": {
            "id": cfg.mesh.id,
            "trustDomain": cfg.mesh.trust_domain,
            "connectivity": cfg.mesh.connectivity,
            "mtls": cfg.mesh.mtls,
            "importNamespace": cfg.mesh.import_namespace,
            "istioVersion": cfg.mesh.istio.version,
            # only with a discovery model: the default (imports) keeps the contract of version 1 as it was
            **({"model": cfg.mesh.model} if cfg.mesh.discovery else {}),
            **({"primaryCluster": cfg.mesh.primary_cluster} if cfg.mesh.primary_cluster else {}),
        },
        "clusters": {c.name: cluster_outputs(mesh, c.name) for c in cfg.clusters},
        "observability": observability_outputs(cfg),
        **mesh.pki.stack_outputs(),
        # only with meshbridge:workloads (VMs): what each group's bootstrap needs
        **(
            {"workloads": workload_outputs(cfg, mesh.pki.root_bundle_pem, istiod_addresses(mesh))}
            if cfg.workloads
            else {}
        ),
    }


def istiod_addresses(mesh: Mesh) -> dict[str, Any]:
    """cluster -> where a VM in its network reaches istiod: the east-west gateway's NLB (its DNS
    name), or in local connectivity the gateway's configured address."""
    found: dict[str, Any] = {name: gw.nlb_dns_name for name, gw in mesh.network.gateways.items()}
    for c in mesh.config.clusters:
        if c.gateway is not None and mesh.config.mesh.connectivity == "local":
            found[c.name] = c.gateway.address
    return found


def export_outputs(mesh: Mesh) -> None:
    for key, value in build_outputs(mesh).items():
        pulumi.export(key, value)
