"""Wiring of the Istio control plane and east-west gateway per cluster (issue 5).

Every cluster gets an `IstioControlPlane` (base -> istiod, mesh-wide PeerAuthentication); a cluster
that exports at least one service also gets an `EastWestGateway` whose `cross-network-gateway`
passes through exactly the hosts it exports (`MeshConfig.exported_hosts`). istiod depends on the
cluster's `cacerts` Secret from the pki part (`mesh.parts["pki"]`, wired before this one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.istio import (
    EastWestGateway,
    EastWestGatewayArgs,
    IstioControlPlane,
    IstioControlPlaneArgs,
)
from stacks.mesh import Mesh


def control_plane_resource_name(cluster: str) -> str:
    return f"{cluster}-istio"


def eastwest_resource_name(cluster: str) -> str:
    return f"{cluster}-istio-eastwest"


@dataclass
class Istio:
    """The Istio part of the mesh: a control plane per cluster, an east-west gateway per exporter."""

    mesh: Mesh
    control_planes: dict[str, IstioControlPlane] = field(default_factory=dict)
    eastwest: dict[str, EastWestGateway] = field(default_factory=dict)

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        spec = self.mesh.config.cluster(name)
        cp = self.control_planes[name]
        gw = self.eastwest.get(name)
        return {
            "istio": {
                "version": cp.version,
                "revision": cp.revision,
                "network": spec.network,
                "clusterName": spec.name,
                "eastWestGatewayService": gw.service_host if gw is not None else None,
            }
        }


def wire(mesh: Mesh) -> None:
    cfg = mesh.config
    pki = mesh.parts["pki"]  # wired before istio (stacks/mesh.py): cacerts must exist before istiod
    settings = cfg.mesh.istio
    istio = Istio(mesh=mesh)
    for spec in cfg.clusters:
        cluster = mesh.clusters[spec.name]
        cp = IstioControlPlane(
            control_plane_resource_name(spec.name),
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
                multi_root=bool(pki.multi_root),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
        istio.control_planes[spec.name] = cp
        hosts = cfg.exported_hosts(spec.name)
        if not hosts:
            continue
        istio.eastwest[spec.name] = EastWestGateway(
            eastwest_resource_name(spec.name),
            EastWestGatewayArgs(
                cluster=spec.name,
                network=spec.network,
                version=settings.version,
                repository=settings.repository,
                revision=settings.revision,
                provider=cluster.k8s_provider,
                istiod=cp.istiod,
                hosts=tuple(hosts),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    mesh.parts["istio"] = istio
