"""Wiring of the Service exports/imports, authorization, failover and distribution (issue 6).

For every `meshbridge:services` entry (identified by namespace/name):
- a `ServiceExport` in every cluster of `exportedFrom` (AuthorizationPolicy for the consumers and the
  `localCallers`, per-pod Services, the headless twin Service when that cluster also imports the
  service); the exported hosts join that cluster's `cross-network-gateway` through
  `MeshConfig.exported_hosts` (stacks/istio.py);
- a `ServiceImport` in every consumer cluster, whose remote endpoints are the addresses of the
  network part (`Mesh.gateway_address`) and whose local endpoint is the consumer's own instance
  (its headless twin: one Envoy host per pod) when it is also a producer.
What each AuthorizationPolicy admits is logged (`pulumi preview` diagnostics) and printed by synth.
For every `meshbridge:distribute` entry, a `Distribution` to the clusters its selector matches.
Every Istio object waits for the cluster's istiod (CRDs and validation webhook in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import ISTIO_NAMESPACE
from components.distribution import Distribution, DistributionArgs
from components.services import (
    AllowedCaller,
    ImportedHost,
    LocalEndpoint,
    RemoteEndpoint,
    ServiceExport,
    ServiceExportArgs,
    ServiceImport,
    ServiceImportArgs,
    ServicePort,
)
from stacks import names
from stacks.config import GATEWAY_PORT, ClusterSpec, MeshConfig, ServiceSpec
from stacks.mesh import Mesh


def export_resource_name(cluster: str, service: ServiceSpec) -> str:
    return names.export_component(cluster, service.namespace, service.name)


def import_resource_name(cluster: str, service: ServiceSpec) -> str:
    return names.import_component(cluster, service.namespace, service.name)


def distribution_resource_name(entry: str) -> str:
    return names.distribution(entry)


def renamed(cfg: MeshConfig, service: ServiceSpec, old: str) -> list[pulumi.Alias]:
    """The alias to a component's name from before services were identified by namespace/name
    (`<cluster>-export-<name>`), so that existing stacks keep their resources. Only when that old
    name was unambiguous: one service of that name in the whole configuration."""
    if sum(1 for s in cfg.services if s.name == service.name) > 1:
        return []
    return [pulumi.Alias(name=old)]


def locality(spec: ClusterSpec) -> str:
    """Istio locality `<region>/<zone>` (zone optional)."""
    return f"{spec.region}/{spec.zone}" if spec.zone else spec.region


def ports_of(service: ServiceSpec) -> list[ServicePort]:
    return [
        ServicePort(number=p.port, name=p.name, protocol=p.protocol, target_port=p.target_port) for p in service.ports
    ]


def imported_hosts(service: ServiceSpec) -> list[ImportedHost]:
    return [ImportedHost(host, real) for host, real in service.imported_hosts()]


def admitted(service: ServiceSpec) -> str:
    """What the producer-side AuthorizationPolicy of `service` admits, in words (preview diagnostics)."""
    parts = []
    for c in service.consumers:
        ops = []
        if c.methods:
            ops.append("methods " + ", ".join(c.methods))
        if c.paths:
            ops.append("paths " + ", ".join(c.paths))
        parts.append(f"{', '.join(c.principals)} (consumer {c.cluster}: {'; '.join(ops) or 'everything'})")
    local = service.local_callers_or_default
    where = "localCallers" if service.local_callers is not None else "localCallers default"
    callers = [*(f"every workload of namespace {ns}" for ns in local.namespaces), *local.principals]
    parts.append(f"{where}: {', '.join(callers)} (everything)" if callers else f"{where}: none")
    return f"{service.key} admits " + "; ".join(parts) + "; anyone else is denied"


@dataclass
class Services:
    """The services part: exports per (service, producer), imports per (service, consumer)."""

    mesh: Mesh
    # keyed by (service key `<namespace>/<name>`, cluster)
    exports: dict[tuple[str, str], ServiceExport] = field(default_factory=dict)
    imports: dict[tuple[str, str], ServiceImport] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    import_namespaces: dict[str, k8s.core.v1.Namespace] = field(default_factory=dict)

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        """exportedHosts / importedHosts (host -> producers) from what was actually built."""
        exported: set[str] = set()
        for (_, cluster), exp in self.exports.items():
            if cluster == name:
                exported.update(exp.exported_hosts)
        imported: dict[str, list[str]] = {}
        for (service, cluster), imp in self.imports.items():
            if cluster == name:
                spec = next(s for s in self.mesh.config.services if s.key == service)
                for host in imp.hosts:
                    imported[host] = list(spec.exported_from)
        return {"exportedHosts": sorted(exported), "importedHosts": dict(sorted(imported.items()))}


def _istio_ready(mesh: Mesh, cluster: str) -> list[pulumi.Resource]:
    """What an Istio object in `cluster` waits for: istiod (CRDs from base, validation webhook)."""
    return [mesh.parts["istio"].control_planes[cluster].istiod]


def _import_namespace(mesh: Mesh, part: Services, cluster: str) -> pulumi.Resource:
    """The import namespace of a consumer: istio-system (MeshCluster's) or one created here."""
    mc = mesh.clusters[cluster]
    name = mesh.config.mesh.import_namespace
    if name == ISTIO_NAMESPACE:
        return mc.istio_namespace
    if cluster not in part.import_namespaces:
        part.import_namespaces[cluster] = k8s.core.v1.Namespace(
            names.namespace_object(cluster, name),
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={"app.kubernetes.io/managed-by": "meshbridge"}),
            opts=mc.child_opts(),
        )
    return part.import_namespaces[cluster]


def _twin_fqdn(service: ServiceSpec) -> str:
    return f"{service.local_twin}.{service.namespace}.svc.cluster.local"


def wire(mesh: Mesh) -> None:
    cfg = mesh.config
    td = cfg.mesh.trust_domain
    part = Services(mesh=mesh)
    for s in cfg.services:
        ports = ports_of(s)
        callers = [AllowedCaller(principals=c.principals, methods=c.methods, paths=c.paths) for c in s.consumers]
        local_callers = s.local_callers_or_default
        consumers = {c.cluster for c in s.consumers}
        failover = len(s.exported_from) > 1
        service_host_exported = any(real == s.fqdn() for _, real in s.imported_hosts())
        for producer in s.exported_from:
            cluster = mesh.clusters[producer]
            export = ServiceExport(
                export_resource_name(producer, s),
                ServiceExportArgs(
                    cluster=producer,
                    service=s.name,
                    namespace=s.namespace,
                    trust_domain=td,
                    workload_selector=s.workload_selector,
                    ports=ports,
                    callers=callers,
                    provider=cluster.k8s_provider,
                    local_namespaces=list(local_callers.namespaces),
                    local_principals=list(local_callers.principals),
                    per_pod_replicas=s.per_pod.replicas if s.per_pod else None,
                    service_host_exported=service_host_exported,
                    local_twin=s.local_twin if failover and producer in consumers else None,
                    depends_on=_istio_ready(mesh, producer),
                ),
                opts=pulumi.ResourceOptions(
                    parent=cluster, aliases=renamed(cfg, s, names.export_component_v0(producer, s.name))
                ),
            )
            part.exports[(s.key, producer)] = export
            pulumi.log.info(f"{producer}: {admitted(s)}", resource=export)
        for consumer in s.consumers:
            name = consumer.cluster
            cluster = mesh.clusters[name]
            remote = [
                RemoteEndpoint(
                    cluster=p,
                    address=mesh.gateway_address(name, p),
                    network=cfg.cluster(p).network,
                    locality=locality(cfg.cluster(p)),
                )
                for p in cfg.remote_producers(s, name)
            ]
            own = cfg.cluster(name)
            local = (
                LocalEndpoint(cluster=name, network=own.network, locality=locality(own), address=_twin_fqdn(s))
                if name in s.exported_from
                else None
            )
            # the local endpoint (the headless twin) is created by this cluster's export
            local_export = [part.exports[(s.key, name)]] if local is not None else []
            part.imports[(s.key, name)] = ServiceImport(
                import_resource_name(name, s),
                ServiceImportArgs(
                    cluster=name,
                    service=s.name,
                    namespace=s.namespace,
                    service_account=s.sa,
                    trust_domain=td,
                    import_namespace=cfg.mesh.import_namespace,
                    ports=ports,
                    hosts=imported_hosts(s),
                    remote=remote,
                    local=local,
                    traffic_policy=s.traffic_policy,
                    gateway_port=GATEWAY_PORT,
                    provider=cluster.k8s_provider,
                    depends_on=[*_istio_ready(mesh, name), _import_namespace(mesh, part, name), *local_export],
                ),
                opts=pulumi.ResourceOptions(
                    parent=cluster, aliases=renamed(cfg, s, names.import_component_v0(name, s.name))
                ),
            )
    for i, d in enumerate(cfg.distribute):
        targets = cfg.selected_clusters(i)
        part.distributions[d.name] = Distribution(
            distribution_resource_name(d.name),
            DistributionArgs(
                name=d.name,
                objects=cfg.distribute_manifests[i],
                targets={c: mesh.clusters[c].k8s_provider for c in targets},
                depends_on={c: _istio_ready(mesh, c) for c in targets},
            ),
        )
    mesh.parts["services"] = part
