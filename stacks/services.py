"""Wiring of the service exports and imports, and of what each AuthorizationPolicy admits.

For every `meshbridge:services` entry (identified by namespace/name):
- `wire_exports`: a `ServiceExport` in every cluster of `exportedFrom` (AuthorizationPolicy for the
  consumers and the `localCallers`, per-pod Services, the headless twin Service when that cluster
  also imports the service), after the workload's allow-nothing baseline (one per namespace and
  selector, retained on delete: no allow-all window when an export is renamed, removed or moved);
  `Exports.gateway_hosts()` is what each cluster's `cross-network-gateway` passes through
  (stacks/istio.py, `wire_eastwest`). A remote cluster of primary-remote has its Istio objects in
  the primary (`MeshConfig.config_cluster`): its export's policies, and its hosts in the primary's
  Gateway, which the istiod applies to the remote's gateway; its Services stay in the remote;
- `wire_imports`: a `ServiceImport` in every consumer cluster, whose remote endpoints are the
  addresses of the network part (`Network.gateway_address`) and whose local endpoint is the
  consumer's own instance (its headless twin: one Envoy host per pod) when it is also a producer;
  its objects wait for each remote producer's binding, Gateway host and AuthorizationPolicy.
What each AuthorizationPolicy admits is logged (`pulumi preview` diagnostics) and printed by synth.
Every Istio object waits for the cluster's istiod (CRDs and validation webhook in place).
Details: docs/architecture.md, "Service exports and imports", and docs/services.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import GATEWAY_PORT, ISTIO_NAMESPACE, MANAGED_BY, service_fqdn
from components.services import (
    AllowedCaller,
    HttpRoute,
    ImportedHost,
    LocalEndpoint,
    RemoteEndpoint,
    RouteDestination,
    ServiceExport,
    ServiceExportArgs,
    ServiceImport,
    ServiceImportArgs,
    ServicePort,
    baseline_policy,
    baseline_policy_name,
)
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import ClusterSpec, MeshConfig, ServiceSpec, is_ipv4
from stacks.istio import ControlPlanes, EastWestGateways
from stacks.network import Network


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


def routes_of(service: ServiceSpec) -> list[HttpRoute]:
    """`routing` in Istio's shapes (the config model checked every value; stacks/config/checks.py the weights)."""
    out: list[HttpRoute] = []
    for k, rule in enumerate(service.routing or []):
        retries: Optional[dict[str, Any]] = None
        if rule.retries is not None:
            retries = {"attempts": rule.retries.attempts}
            if rule.retries.per_try_timeout is not None:
                retries["perTryTimeout"] = rule.retries.per_try_timeout
            if rule.retries.retry_on is not None:
                retries["retryOn"] = rule.retries.retry_on
        fault: Optional[dict[str, Any]] = None
        if rule.fault is not None:
            fault = {}
            if rule.fault.delay is not None:
                d = rule.fault.delay
                fault["delay"] = {"fixedDelay": d.fixed_delay, "percentage": {"value": d.percent}}
            if rule.fault.abort is not None:
                a = rule.fault.abort
                fault["abort"] = {"httpStatus": a.http_status, "percentage": {"value": a.percent}}
        out.append(
            HttpRoute(
                name=rule.name or f"route-{k}",
                destinations=[RouteDestination(cluster=c, weight=w) for c, w in rule.weights.items()],
                match=[m.istio() for m in rule.match or []],
                timeout=rule.timeout,
                retries=retries,
                fault=fault,
                mirror=rule.mirror.cluster if rule.mirror else None,
                mirror_percent=rule.mirror.percent if rule.mirror else 100.0,
            )
        )
    return out


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


# ----------------------------------------------------------------------------- producer side


@dataclass
class Exports:
    """A `ServiceExport` per (service key `<namespace>/<name>`, producer cluster)."""

    by_key: dict[tuple[str, str], ServiceExport] = field(default_factory=dict)
    # (producer, namespace, baseline policy name) -> the workload's allow-nothing AuthorizationPolicy
    baselines: dict[tuple[str, str, str], pulumi.Resource] = field(default_factory=dict)

    def hosts_by_cluster(self) -> dict[str, list[str]]:
        """cluster -> the real FQDNs its exports pass through the east-west gateway (sorted)."""
        hosts: dict[str, set[str]] = {}
        for (_, cluster), export in self.by_key.items():
            hosts.setdefault(cluster, set()).update(export.exported_hosts)
        return {cluster: sorted(h) for cluster, h in hosts.items()}

    def gateway_hosts(self, cfg: MeshConfig) -> dict[str, list[str]]:
        """cluster -> the hosts of its `cross-network-gateway` (sorted): its own exports', and on
        primary-remote's primary also every remote's (the primary's Gateway is the one the istiod
        applies to the remotes' east-west gateways too; a remote has none of its own)."""
        hosts: dict[str, set[str]] = {}
        for cluster, own in self.hosts_by_cluster().items():
            hosts.setdefault(cfg.config_cluster(cluster), set()).update(own)
        return {cluster: sorted(h) for cluster, h in hosts.items()}

    def ready(self, key: str, producer: str) -> list[pulumi.Resource]:
        """What admits the consumers of service `key` in `producer`: the export's AuthorizationPolicy."""
        export = self.by_key[(key, producer)]
        return [export.authorization_policy]

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        """exportedHosts, from what was actually built."""
        return {"exportedHosts": self.hosts_by_cluster().get(name, [])}


def _baseline(
    exports: Exports, clusters: Clusters, control_planes: ControlPlanes, config: str, s: ServiceSpec
) -> pulumi.Resource:
    """The allow-nothing baseline of the workload `s` selects, in `config` (the producer's API
    server, or the primary's for a remote of primary-remote: where its istiod reads policies) (one
    per namespace and selector, shared by services that select the same pods), apart from any
    export: it keeps the workload closed while an export of it is renamed, removed or moved
    (components/services.py)."""
    name = baseline_policy_name(s.workload_selector)
    key = (config, s.namespace, name)
    if key not in exports.baselines:
        cluster = clusters[config]
        exports.baselines[key] = baseline_policy(
            f"{config}-{s.namespace}-{name}",
            s.namespace,
            s.workload_selector,
            provider=cluster.k8s_provider,
            parent=cluster,
            depends_on=control_planes.ready(config),
        )
    return exports.baselines[key]


def wire_exports(cfg: MeshConfig, clusters: Clusters, control_planes: ControlPlanes) -> Exports:
    td = cfg.mesh.trust_domain
    exports = Exports()
    for s in cfg.services:
        ports = ports_of(s)
        callers = [AllowedCaller(principals=c.principals, methods=c.methods, paths=c.paths) for c in s.consumers]
        local_callers = s.local_callers_or_default
        consumers = {c.cluster for c in s.consumers}
        failover = len(s.exported_from) > 1
        service_host_exported = s.service_host_imported
        for producer in s.exported_from:
            cluster = clusters[producer]
            # a remote of primary-remote: its policies in the primary, where its istiod reads them
            config = cfg.config_cluster(producer)
            baseline = _baseline(exports, clusters, control_planes, config, s)
            export = ServiceExport(
                names.export_component(producer, s.namespace, s.name),
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
                    # (discovery: the consumer's istiod merges its own endpoints with the discovered ones)
                    local_twin=s.local_twin
                    if failover and producer in consumers and s.import_mode == "explicit"
                    else None,
                    # the baseline first: the workload is closed before (and after) its ALLOW policy
                    depends_on=[*control_planes.ready(config), baseline],
                    policy_provider=clusters[config].k8s_provider if config != producer else None,
                ),
                opts=pulumi.ResourceOptions(
                    parent=cluster, aliases=renamed(cfg, s, names.export_component_v0(producer, s.name))
                ),
            )
            exports.by_key[(s.key, producer)] = export
            pulumi.log.info(f"{producer}: {admitted(s)}", resource=export)
    return exports


# ----------------------------------------------------------------------------- consumer side


@dataclass
class Imports:
    """A `ServiceImport` per (service key, consumer cluster), and the import namespaces created."""

    by_key: dict[tuple[str, str], ServiceImport] = field(default_factory=dict)
    # service key -> its producer clusters (the importedHosts output)
    producers: dict[str, list[str]] = field(default_factory=dict)
    # consumer cluster -> the import Namespace meshbridge created (none when it is istio-system)
    namespaces: dict[str, k8s.core.v1.Namespace] = field(default_factory=dict)

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        """importedHosts (host -> producers) and, when a host has routes, routedHosts (host -> its
        rules: name and weights per producer), from what was actually built."""
        imported: dict[str, list[str]] = {}
        routed: dict[str, list[dict[str, Any]]] = {}
        for (service, cluster), imp in self.by_key.items():
            if cluster == name:
                for host in imp.hosts:
                    imported[host] = list(self.producers[service])
                for host in imp.virtual_services:
                    routed[host] = [
                        {"name": r.name, "weights": {d.cluster: d.weight for d in r.destinations}} for r in imp.routes
                    ]
        out: dict[str, Any] = {"importedHosts": dict(sorted(imported.items()))}
        if routed:
            out["routedHosts"] = dict(sorted(routed.items()))
        return out


def _import_namespace(cfg: MeshConfig, clusters: Clusters, imports: Imports, cluster: str) -> pulumi.Resource:
    """The import namespace of a consumer: istio-system (MeshCluster's) or one created here."""
    mc = clusters[cluster]
    name = cfg.mesh.import_namespace
    if name == ISTIO_NAMESPACE:
        return mc.istio_namespace
    if cluster not in imports.namespaces:
        imports.namespaces[cluster] = k8s.core.v1.Namespace(
            names.namespace_object(cluster, name),
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=dict(MANAGED_BY)),
            opts=mc.child_opts(),
        )
    return imports.namespaces[cluster]


def wire_imports(
    cfg: MeshConfig,
    clusters: Clusters,
    control_planes: ControlPlanes,
    exports: Exports,
    network: Network,
    eastwest: EastWestGateways,
) -> Imports:
    """A `ServiceImport` per (explicit service, consumer). Ready before published: the objects wait
    for every remote producer's side of the path (`Network.ready`: binding and listener;
    `EastWestGateways.ready`: the `cross-network-gateway` with the host; `Exports.ready`: the
    AuthorizationPolicy), so a moved or added producer is announced only once it can serve."""
    td = cfg.mesh.trust_domain
    imports = Imports()
    for s in cfg.services:
        ports = ports_of(s)
        imports.producers[s.key] = list(s.exported_from)
        if s.import_mode == "discovery":
            # the consumers' istiod discovers the producers' endpoints (stacks/discovery.py): no import
            continue
        for consumer in s.consumers:
            name = consumer.cluster
            cluster = clusters[name]
            remote = [
                RemoteEndpoint(
                    cluster=p,
                    address=network.gateway_address(name, p),
                    network=cfg.cluster(p).network,
                    locality=locality(cfg.cluster(p)),
                    ready=[*network.ready(p), *eastwest.ready(p), *exports.ready(s.key, p)],
                )
                for p in cfg.remote_producers(s, name)
            ]
            own = cfg.cluster(name)
            local = (
                LocalEndpoint(
                    cluster=name,
                    network=own.network,
                    locality=locality(own),
                    address=service_fqdn(s.local_twin, s.namespace),
                )
                if name in s.exported_from
                else None
            )
            # STATIC when every endpoint is an IP the configuration gives (local connectivity); a
            # name (an NLB, a VPC endpoint, a DNS gateway address, the headless twin) needs DNS
            literal = [network.literal_address(p) for p in cfg.remote_producers(s, name)]
            static = local is None and all(a is not None and is_ipv4(a) for a in literal)
            # the local endpoint (the headless twin) is created by this cluster's export
            local_export = [exports.by_key[(s.key, name)]] if local is not None else []
            namespace = _import_namespace(cfg, clusters, imports, name)
            imports.by_key[(s.key, name)] = ServiceImport(
                names.import_component(name, s.namespace, s.name),
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
                    resolution="STATIC" if static else "DNS",
                    routes=routes_of(s),
                    provider=cluster.k8s_provider,
                    depends_on=[*control_planes.ready(name), namespace, *local_export],
                ),
                opts=pulumi.ResourceOptions(
                    parent=cluster, aliases=renamed(cfg, s, names.import_component_v0(name, s.name))
                ),
            )
    return imports
