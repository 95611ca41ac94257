"""Wiring of Istio per cluster: the control plane, then (once the exports are known) the east-west gateway.

Every cluster gets an `IstioControlPlane` (base -> istiod, mesh-wide PeerAuthentication); istiod
depends on the cluster's `cacerts` Secret from the pki part. A cluster that exports at least one
host gets an `EastWestGateway` whose `cross-network-gateway` passes through exactly the hosts its
`ServiceExport`s export (least exposure). Order and reasons: docs/architecture.md, "Istio install order".
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components.constants import INGRESS_RELEASE, ISTIO_NAMESPACE, service_fqdn
from components.istio import (
    UNREVISIONED,
    EastWestGateway,
    EastWestGatewayArgs,
    IngressGateway,
    IngressGatewayArgs,
    IstioControlPlane,
    IstioControlPlaneArgs,
    as_revision,
)
from components.options import Dependency
from components.telemetry import tracing_extension_provider
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import ClusterRevisions, IstioSettings, MeshConfig, RevisionSpec, is_ipv4
from stacks.pki import Pki


@dataclass(frozen=True)
class IstiodSettings:
    """What one cluster's istiod values get from the discovery model (stacks/discovery.py)."""

    mesh_networks: Optional[pulumi.Input[Mapping[str, Any]]] = None  # global.meshNetworks
    external_istiod: bool = False  # primary-remote's primary
    service_settings: tuple[Mapping[str, Any], ...] = ()  # meshConfig.serviceSettings (multi-primary)
    remote_pilot_address: Optional[pulumi.Input[str]] = None  # primary-remote's remote: Istio's remote profile


@dataclass
class ControlPlanes:
    """An `IstioControlPlane` per cluster."""

    by_cluster: dict[str, IstioControlPlane] = field(default_factory=dict)

    def ready(self, cluster: str) -> list[Dependency]:
        """What an Istio object in `cluster` waits for: istiod (CRDs from base, validation webhook),
        for a remote of primary-remote also the primary's istiod path."""
        return list(self.by_cluster[cluster].ready)


@dataclass
class IngressGateways:
    """An `IngressGateway` per cluster with `ingressGateway`."""

    by_cluster: dict[str, IngressGateway] = field(default_factory=dict)


@dataclass
class EastWestGateways:
    """An `EastWestGateway` per cluster that exports at least one host."""

    by_cluster: dict[str, EastWestGateway] = field(default_factory=dict)
    # cluster -> the cluster whose `cross-network-gateway` configures its gateway (primary-remote's
    # primary for a remote: `MeshConfig.config_cluster`); absent: its own
    configured_by: dict[str, str] = field(default_factory=dict)

    def ready(self, cluster: str) -> list[pulumi.Resource]:
        """What passes `cluster`'s exported hosts: the `cross-network-gateway` that configures its
        gateway (none without hosts)."""
        gateway = self.by_cluster.get(self.configured_by.get(cluster, cluster))
        return [gateway.gateway] if gateway is not None and gateway.gateway is not None else []


def chart_source(settings: IstioSettings) -> str:
    """Where the charts come from: the local chart directory (absolute) or the repository."""
    return os.path.abspath(settings.chart_directory) if settings.chart_directory else settings.repository


def extension_providers(cfg: MeshConfig) -> tuple[dict[str, Any], ...]:
    """istiod's `meshConfig.extensionProviders`: the tracing collector of `meshbridge:observability`
    (the Telemetry objects of stacks/telemetry.py name it), none without tracing."""
    tracing = cfg.observability.tracing
    if tracing is None:
        return ()
    return (tracing_extension_provider(tracing.provider, tracing.service, tracing.collector_port),)


def wire_control_planes(
    cfg: MeshConfig,
    clusters: Clusters,
    pki: Pki,
    istiod: Optional[Mapping[str, IstiodSettings]] = None,
    only: Optional[Collection[str]] = None,
    after: Optional[Mapping[str, Sequence[Dependency]]] = None,
    planes: Optional[ControlPlanes] = None,
) -> ControlPlanes:
    """An `IstioControlPlane` per cluster (of `only`, when given, added to `planes`); `istiod`: the
    discovery model's settings per cluster; `after`: what a cluster's Istio objects also wait for."""
    settings = cfg.mesh.istio
    planes = planes if planes is not None else ControlPlanes()
    for spec in cfg.clusters:
        if only is not None and spec.name not in only:
            continue
        cluster = clusters[spec.name]
        found = (istiod or {}).get(spec.name, IstiodSettings())
        canary = spec.istio_revisions(settings)
        planes.by_cluster[spec.name] = IstioControlPlane(
            names.control_plane(spec.name),
            IstioControlPlaneArgs(
                cluster=spec.name,
                network=spec.network,
                mesh_id=cfg.mesh.id,
                trust_domain=cfg.mesh.trust_domain,
                version=canary.version(canary.default) if canary else spec.istio_version(settings),
                repository=chart_source(settings),
                revision=None if canary else settings.revision,
                revisions=tuple((r.name, r.version) for r in canary.installed) if canary else (),
                default_revision=canary.default if canary else None,
                mtls_mode=cfg.mesh.mtls,
                provider=cluster.k8s_provider,
                namespace=cluster.istio_namespace,
                cacerts=pki.cacerts[spec.name],
                multi_root=pki.multi_root,
                mesh_networks=found.mesh_networks,
                external_istiod=found.external_istiod,
                service_settings=found.service_settings,
                remote_pilot_address=found.remote_pilot_address,
                extension_providers=extension_providers(cfg),
                after=tuple((after or {}).get(spec.name, ())),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return planes


def wire_eastwest(
    cfg: MeshConfig,
    clusters: Clusters,
    control_planes: ControlPlanes,
    exported_hosts: Mapping[str, Sequence[str]],
    only: Optional[Collection[str]] = None,
    after: Optional[Mapping[str, Sequence[Dependency]]] = None,
    gateways: Optional[EastWestGateways] = None,
) -> EastWestGateways:
    """An east-west gateway for every cluster with exported hosts (cluster -> the real FQDNs of its
    `cross-network-gateway`, from the services part: `Exports.gateway_hosts`), in cluster order;
    with endpoint discovery for every cluster (a remote of primary-remote without Gateway objects of
    its own: the primary's apply to its gateway, its hosts included); primary-remote's primary and
    a cluster with VMs (meshbridge:workloads) expose istiod through it. `only`, `after` and
    `gateways`: as for `wire_control_planes`."""
    settings = cfg.mesh.istio
    gateways = gateways if gateways is not None else EastWestGateways()
    for spec in cfg.clusters:
        if only is not None and spec.name not in only:
            continue
        hosts = sorted(set(exported_hosts.get(spec.name, ())))
        if not hosts and not cfg.mesh.discovery:
            continue
        cluster = clusters[spec.name]
        if cfg.config_cluster(spec.name) != spec.name:
            gateways.configured_by[spec.name] = cfg.config_cluster(spec.name)
        # local connectivity: the other clusters reach this gateway at its configured address
        local = spec.gateway if cfg.mesh.connectivity == "local" else None
        # canary mode: the gateway pods are injected by the gateway revision, moved explicitly
        canary = spec.istio_revisions(settings)
        injector = gateway_injector(cfg, spec.name)
        gateways.by_cluster[spec.name] = EastWestGateway(
            names.eastwest_gateway(spec.name),
            EastWestGatewayArgs(
                cluster=spec.name,
                network=spec.network,
                version=canary.version(injector) if canary else spec.istio_version(settings),
                repository=chart_source(settings),
                revision=as_revision(injector),
                provider=cluster.k8s_provider,
                istiod=control_planes.by_cluster[spec.name].istiods[injector].ready,
                hosts=tuple(hosts),
                expose_istiod=cfg.exposes_istiod(spec.name),
                service_type="LoadBalancer" if local is not None else "ClusterIP",
                load_balancer_ip=local.address if local is not None and is_ipv4(local.address) else None,
                after=tuple((after or {}).get(spec.name, ())),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return gateways


def gateway_injector(cfg: MeshConfig, cluster: str) -> str:
    """The revision whose istiod injects a cluster's gateways (`default`: the unrevisioned one)."""
    settings = cfg.mesh.istio
    canary = cfg.cluster(cluster).istio_revisions(settings)
    return canary.gateway if canary else (settings.revision or UNREVISIONED)


def wire_ingress(
    cfg: MeshConfig,
    clusters: Clusters,
    control_planes: ControlPlanes,
    after: Optional[Mapping[str, Sequence[Dependency]]] = None,
) -> IngressGateways:
    """An ingress gateway for every cluster with `ingressGateway`, injected by the revision that
    injects its east-west gateway; `after`: as for `wire_control_planes` (a remote of primary-remote)."""
    settings = cfg.mesh.istio
    gateways = IngressGateways()
    for spec in cfg.clusters:
        if spec.ingress_gateway is None:
            continue
        injector = gateway_injector(cfg, spec.name)
        canary = spec.istio_revisions(settings)
        gateways.by_cluster[spec.name] = IngressGateway(
            names.ingress_gateway(spec.name),
            IngressGatewayArgs(
                cluster=spec.name,
                version=canary.version(injector) if canary else spec.istio_version(settings),
                repository=chart_source(settings),
                provider=clusters[spec.name].k8s_provider,
                istiod=control_planes.by_cluster[spec.name].istiods[injector].ready,
                scheme=spec.ingress_gateway.scheme,
                aws=cfg.mesh.connectivity != "local",
                revision=as_revision(injector),
                after=tuple((after or {}).get(spec.name, ())),
            ),
            opts=pulumi.ResourceOptions(parent=clusters[spec.name]),
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
            **revision_outputs(cfg, name),
            "network": spec.network,
            "clusterName": spec.name,
            "eastWestGatewayService": gw.service_host if gw is not None else None,
            "ingressGatewayService": service_fqdn(INGRESS_RELEASE, ISTIO_NAMESPACE) if spec.ingress_gateway else None,
        }
    }


def revision_outputs(cfg: MeshConfig, name: str) -> dict[str, Any]:
    """The revisions' entries of a cluster's `istio` output, in canary mode and for a single
    revisioned control plane (none for a single unrevisioned one): what runs where, and what the
    revision gates compare with (stacks/migration.py)."""
    spec, settings = cfg.cluster(name), cfg.mesh.istio
    canary: Optional[ClusterRevisions] = spec.istio_revisions(settings)
    if canary is None and settings.revision is not None:
        one = RevisionSpec(name=settings.revision, version=spec.istio_version(settings))
        canary = ClusterRevisions((one,), settings.revision, settings.revision)
    if canary is None:
        return {}
    return {
        "revisions": [{"name": r.name, "version": r.version} for r in canary.installed],
        "defaultRevision": canary.default,
        "gatewayRevision": canary.gateway,
    }
