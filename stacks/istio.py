"""Wiring of Istio per cluster: the control plane, then (once the exports are known) the east-west gateway.

Every cluster gets an `IstioControlPlane` (base -> istiod, mesh-wide PeerAuthentication); istiod
depends on the cluster's `cacerts` Secret from the pki part. A cluster that exports at least one
host gets an `EastWestGateway` whose `cross-network-gateway` passes through exactly the hosts its
`ServiceExport`s export (least exposure). Order and reasons: docs/architecture.md, "Istio install order".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.istio import (
    EastWestGateway,
    EastWestGatewayArgs,
    IstioControlPlane,
    IstioControlPlaneArgs,
)
from stacks import names
from stacks.clusters import Clusters
from stacks.config_model import MeshConfig
from stacks.pki import Pki


@dataclass
class ControlPlanes:
    """An `IstioControlPlane` per cluster."""

    by_cluster: dict[str, IstioControlPlane] = field(default_factory=dict)

    def ready(self, cluster: str) -> list[pulumi.Resource]:
        """What an Istio object in `cluster` waits for: istiod (CRDs from base, validation webhook)."""
        return [self.by_cluster[cluster].istiod]


@dataclass
class EastWestGateways:
    """An `EastWestGateway` per cluster that exports at least one host."""

    by_cluster: dict[str, EastWestGateway] = field(default_factory=dict)


def wire_control_planes(cfg: MeshConfig, clusters: Clusters, pki: Pki) -> ControlPlanes:
    settings = cfg.mesh.istio
    planes = ControlPlanes()
    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        planes.by_cluster[spec.name] = IstioControlPlane(
            names.control_plane(spec.name),
            IstioControlPlaneArgs(
                cluster=spec.name,
                network=spec.network,
                mesh_id=cfg.mesh.id,
                trust_domain=cfg.mesh.trust_domain,
                version=settings.version,
                repository=settings.repository,
                revision=settings.revision,
                mtls_mode=cfg.mesh.mtls,
                provider=cluster.k8s_provider,
                namespace=cluster.istio_namespace,
                cacerts=pki.cacerts[spec.name],
                multi_root=pki.multi_root,
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return planes


def wire_eastwest(
    cfg: MeshConfig,
    clusters: Clusters,
    control_planes: ControlPlanes,
    exported_hosts: Mapping[str, Sequence[str]],
) -> EastWestGateways:
    """An east-west gateway for every cluster with exported hosts (cluster -> real FQDNs, from the
    services part), in cluster order."""
    settings = cfg.mesh.istio
    gateways = EastWestGateways()
    for spec in cfg.clusters:
        hosts = sorted(set(exported_hosts.get(spec.name, ())))
        if not hosts:
            continue
        cluster = clusters[spec.name]
        gateways.by_cluster[spec.name] = EastWestGateway(
            names.eastwest_gateway(spec.name),
            EastWestGatewayArgs(
                cluster=spec.name,
                network=spec.network,
                version=settings.version,
                repository=settings.repository,
                revision=settings.revision,
                provider=cluster.k8s_provider,
                istiod=control_planes.by_cluster[spec.name].istiod,
                hosts=tuple(hosts),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return gateways


def istio_outputs(
    cfg: MeshConfig, control_planes: ControlPlanes, gateways: EastWestGateways, name: str
) -> dict[str, Any]:
    """The `istio` entry of a cluster's outputs (docs/outputs.md)."""
    spec = cfg.cluster(name)
    cp = control_planes.by_cluster[name]
    gw = gateways.by_cluster.get(name)
    return {
        "istio": {
            "version": cp.version,
            "revision": cp.revision,
            "network": spec.network,
            "clusterName": spec.name,
            "eastWestGatewayService": gw.service_host if gw is not None else None,
        }
    }
