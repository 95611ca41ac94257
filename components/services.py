"""Cross-cluster services: the producer side (`ServiceExport`) and the consumer side (`ServiceImport`).

The traffic path (docs/architecture.md, "Service exports and imports"; docs/services.md):

```
consumer pod -> sidecar: ServiceEntry <host> (MESH_INTERNAL, DNS) endpoint = producer gateway address:15443
   DestinationRule <host>: ISTIO_MUTUAL, SNI outbound_.<port>_._.<real FQDN>
-> producer east-west gateway :15443 (AUTO_PASSTHROUGH, routes on that SNI)
-> producer Service <real FQDN> (or the per-pod Service <name>-<i>) -> sidecar of the pod
   AuthorizationPolicy (ALLOW) admits the consumer's principal
```

`ServiceExport` (one per service and producer cluster, on the producer's provider):
- an ALLOW `AuthorizationPolicy` on the exported workload for the declared consumer principals
  (with their HTTP methods/paths), plus one rule for the declared local callers (`local_namespaces`,
  `local_principals`) on every method and path; a local rule that would also admit a consumer
  principal restricted to methods/paths is refused (see "Authorization" in docs/services.md);
- with per-pod addressing, one `Service` `<name>-<i>` per StatefulSet pod (selector
  `statefulset.kubernetes.io/pod-name`, `targetPort` from the port), so that the producer (and
  its gateway) knows the per-pod host `<name>-<i>.<ns>.svc.cluster.local`;
- with `local_twin`, a headless `Service` of that name selecting the workload: the local endpoint of
  a failover host in a cluster that both runs and imports the service (one DNS answer, so one Envoy
  host, per ready pod: outlier detection ejects a bad pod, not the whole local service).

`ServiceImport` (one per service and consumer cluster, on the consumer's provider, in the import
namespace): per consumer host (the service host, then one per pod alias) a `ServiceEntry` and a
`DestinationRule` named after the host. With several producers the service host's endpoints carry
the label `meshbridge.io/producer: <cluster>` and its DestinationRule a subset per producer cluster
(always, so that adding or removing routes never names a subset that is not there); with `routes`
a `VirtualService` of the same name routes the host (weights between producer subsets, matches,
timeouts, retries, fault injection, mirroring), created after the subsets it names.

Neither component reads configuration; both take typed args and create every child with
`parent=self` on the explicit provider given in the args.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import GATEWAY_PORT, MANAGED_BY, service_fqdn
from components.options import Dependency, child_opts

TLS_MODE_LABEL = "security.istio.io/tlsMode"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
SERVICE_LABEL = "meshbridge.io/service"
# the producer cluster of a ServiceEntry endpoint, which DestinationRule subsets select; not
# topology.istio.io/cluster: pilot overwrites that label of a ServiceEntry endpoint with the cluster
# the ServiceEntry is read in (serviceentry/conversion.go, labelutil.AugmentLabels), the consumer's
PRODUCER_LABEL = "meshbridge.io/producer"
ISTIO_NETWORKING = "networking.istio.io/v1"
ISTIO_SECURITY = "security.istio.io/v1"
# Kubernetes Service appProtocol for each Istio protocol (Istio reads it as the port protocol)
APP_PROTOCOL = {
    "HTTP": "http",
    "HTTPS": "https",
    "GRPC": "grpc",
    "HTTP2": "http2",
    "MONGO": "mongo",
    "TCP": "tcp",
    "TLS": "tls",
}
# used when a service has several producers and the caller gave no outlierDetection (the config
# model requires one, so this only matters for direct users of the component)
DEFAULT_OUTLIER_DETECTION: dict[str, Any] = {
    "consecutive5xxErrors": 5,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 100,
}
# port-level traffic settings do not inherit the top-level ones in Istio (a port-level entry that
# omits a field gets the default), so these are copied into every generated port-level entry
PORT_LEVEL_FIELDS = ("connectionPool", "loadBalancer", "outlierDetection")


@dataclass(frozen=True)
class ServicePort:
    """A port of an exported service."""

    number: int  # the Service port (what consumers call)
    name: str  # the port name (ServiceEntry ports, per-port endpoint ports)
    protocol: str = "TCP"  # the Istio protocol (HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS)
    target_port: Optional[int] = None  # the pods' port (default: number)

    @property
    def is_http(self) -> bool:
        return self.protocol in ("HTTP", "HTTP2", "GRPC")

    @property
    def target(self) -> int:
        return self.target_port if self.target_port is not None else self.number


def export_policy_name(service: str, remote: Optional[str] = None) -> str:
    """Name of the AuthorizationPolicy a `ServiceExport` puts on the exported workload; an export
    from a remote cluster of primary-remote, whose policy lives in the primary beside the primary's
    own export of the same service, has the remote's name in it (the two admit the same callers)."""
    return f"meshbridge-export-{service}" + (f"-{remote}" if remote else "")


BASELINE_PREFIX = "meshbridge-baseline-"
BASELINE_LABEL = "meshbridge.io/baseline"


def baseline_policy_name(selector: Mapping[str, str]) -> str:
    """Name of the allow-nothing AuthorizationPolicy of the workload `selector` selects: derived from
    the selector only (never from the service's name), so it outlives a rename of the export."""
    canonical = json.dumps(dict(sorted(selector.items())), separators=(",", ":"))
    return BASELINE_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def baseline_policy_spec(selector: Mapping[str, str]) -> dict[str, Any]:
    """An ALLOW policy without rules: it matches nothing, so on its own it denies every request to
    the workload (Istio's "allow-nothing"), and beside the export's ALLOW it adds nothing."""
    return {"selector": {"matchLabels": dict(sorted(selector.items()))}, "action": "ALLOW"}


def baseline_policy(
    resource: str,
    namespace: str,
    selector: Mapping[str, str],
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: Sequence[Dependency] = (),
) -> k8s.apiextensions.CustomResource:
    """The allow-nothing baseline of an exported workload, owned apart from the export's ALLOW policy.

    An ALLOW policy is all that keeps a workload closed: without one Istio admits every
    authenticated caller. The export's policy goes when the export is renamed (a new name, the old
    one deleted last), removed or moved; the baseline stays: its name and resource name come from
    the namespace and selector only, and it is retained on delete (Pulumi forgets it, the cluster
    keeps it), so pods that still carry the labels are denied everything no export admits. Dropping
    it is deliberate: `kubectl delete authorizationpolicy -n <namespace> <name>` (docs/runbook.md).
    """
    return k8s.apiextensions.CustomResource(
        resource,
        api_version=ISTIO_SECURITY,
        kind="AuthorizationPolicy",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=baseline_policy_name(selector),
            namespace=namespace,
            labels={**MANAGED_BY, BASELINE_LABEL: "allow-nothing"},
        ),
        spec=baseline_policy_spec(selector),
        opts=child_opts(parent, provider, depends_on=list(depends_on), retain_on_delete=True),
    )


def principal(trust_domain: str, ns_sa: str) -> str:
    """`ns/sa` -> the AuthorizationPolicy principal `<trustDomain>/ns/<ns>/sa/<sa>`."""
    ns, sa = ns_sa.split("/")
    return f"{trust_domain}/ns/{ns}/sa/{sa}"


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def sni(port: int, real_host: str) -> str:
    """The SNI an east-west gateway in AUTO_PASSTHROUGH mode routes on."""
    return f"outbound_.{port}_._.{real_host}"


# ----------------------------------------------------------------------------- producer side


@dataclass(frozen=True)
class AllowedCaller:
    """One consumer entry: principals (`ns/sa`) and optional HTTP methods/paths."""

    principals: Sequence[str]  # `<namespace>/<serviceaccount>` of the callers
    methods: Optional[Sequence[str]] = None  # HTTP methods admitted (None: every method)
    paths: Optional[Sequence[str]] = None  # HTTP paths admitted (None: every path)


@dataclass(frozen=True)
class ServiceExportArgs:
    """One exported service in one producer cluster."""

    cluster: str  # the producer cluster's name
    service: str  # the Service's name
    namespace: str  # the Service's namespace (the AuthorizationPolicy and per-pod Services live there)
    trust_domain: str  # the mesh's trust domain (principals `<trustDomain>/ns/<ns>/sa/<sa>`)
    workload_selector: dict[str, str]  # labels of the exported pods (AuthorizationPolicy selector)
    ports: Sequence[ServicePort]  # the service's ports
    callers: Sequence[AllowedCaller]  # the declared consumers, with their methods/paths
    provider: pulumi.ProviderResource  # the producer's kubernetes.Provider
    # callers inside the producer clusters admitted on every port, method and path besides the
    # consumers: every workload of these namespaces (None: the service's namespace) and these
    # principals (`ns/sa`); neither may admit a consumer principal restricted to methods/paths
    local_namespaces: Optional[Sequence[str]] = None
    local_principals: Sequence[str] = ()
    # StatefulSet replicas that get a per-pod Service `<service>-<i>` (None: no per-pod addressing)
    per_pod_replicas: Optional[int] = None
    # whether the service host itself is passed through the gateway (a per-pod service without an
    # alias imports only its per-pod hosts)
    service_host_exported: bool = True
    # name of the headless twin Service to create (the local endpoint of a failover host), if any
    local_twin: Optional[str] = None
    # e.g. the Istio CRDs / istiod of the cluster
    depends_on: Sequence[Dependency] = field(default_factory=list)
    # a remote cluster of primary-remote: the primary's kubernetes.Provider, whose API server holds
    # the AuthorizationPolicy (its istiod reads Istio configuration there only, and applies it to the
    # remote's workloads by namespace and selector); the per-pod and twin Services stay in `provider`
    policy_provider: Optional[pulumi.ProviderResource] = None


def service_ports(ports: Sequence[ServicePort]) -> list[k8s.core.v1.ServicePortArgs]:
    """The Service ports of an exported workload: each port to its target port, with its appProtocol."""
    return [
        k8s.core.v1.ServicePortArgs(
            name=p.name,
            port=p.number,
            target_port=p.target,
            protocol="TCP",
            app_protocol=APP_PROTOCOL.get(p.protocol, "tcp"),
        )
        for p in ports
    ]


def authorization_rules(args: ServiceExportArgs) -> list[dict[str, Any]]:
    """The ALLOW rules: declared consumers (grouped by identical operation), then local callers."""
    grouped: dict[tuple[tuple[str, ...], tuple[str, ...]], set[str]] = {}
    restricted: set[str] = set()
    operations: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # principal -> its methods/paths
    for caller in args.callers:
        for what, value in (("methods", caller.methods), ("paths", caller.paths)):
            if value is not None and not list(value):
                raise ValueError(f"{args.service}: empty {what} would admit every {what[:-1]}; omit it instead")
        key = (tuple(caller.methods or ()), tuple(caller.paths or ()))
        same = (tuple(sorted(set(key[0]))), tuple(sorted(set(key[1]))))
        for p in caller.principals:
            # one identity in every cluster: Istio would grant both entries' operations to it
            if operations.setdefault(p, same) != same:
                raise ValueError(
                    f"{args.service}: {p} is declared twice with different methods/paths; Istio cannot tell "
                    "the two apart and would admit the union"
                )
        grouped.setdefault(key, set()).update(principal(args.trust_domain, p) for p in caller.principals)
        if caller.methods or caller.paths:
            restricted.update(caller.principals)
    local = [args.namespace] if args.local_namespaces is None else list(args.local_namespaces)
    widened = sorted(p for p in restricted if p.split("/")[0] in local or p in args.local_principals)
    if widened:
        raise ValueError(
            f"{args.service}: the local callers would admit {', '.join(widened)} on every method and path, "
            "although a consumer entry restricts them"
        )
    rules: list[dict[str, Any]] = []
    for (methods, paths), principals in sorted(grouped.items(), key=lambda kv: (sorted(kv[1]), kv[0])):
        rule: dict[str, Any] = {"from": [{"source": {"principals": sorted(principals)}}]}
        operation: dict[str, Any] = {}
        if methods:
            operation["methods"] = list(methods)
        if paths:
            operation["paths"] = list(paths)
        if operation:
            rule["to"] = [{"operation": operation}]
        rules.append(rule)
    # the local callers: whole namespaces and single principals, on every method and path
    sources: list[dict[str, Any]] = []
    if local:
        sources.append({"source": {"namespaces": sorted(set(local))}})
    if args.local_principals:
        sources.append(
            {"source": {"principals": sorted({principal(args.trust_domain, p) for p in args.local_principals})}}
        )
    if sources:
        rules.append({"from": sources})
    return rules


class ServiceExport(pulumi.ComponentResource):
    """Producer side of one exported service in one cluster: authorization and per-pod Services."""

    authorization_policy: k8s.apiextensions.CustomResource
    pod_services: list[k8s.core.v1.Service]
    exported_hosts: list[str]

    def __init__(self, name: str, args: ServiceExportArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:services:ServiceExport", name, None, opts)
        prefix = f"{args.cluster}-{args.namespace}-{args.service}"
        labels = {**MANAGED_BY, SERVICE_LABEL: args.service}
        self.authorization_policy = k8s.apiextensions.CustomResource(
            f"{prefix}-authz",
            api_version=ISTIO_SECURITY,
            kind="AuthorizationPolicy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=export_policy_name(args.service, args.cluster if args.policy_provider else None),
                namespace=args.namespace,
                labels=labels,
            ),
            spec={
                "selector": {"matchLabels": dict(sorted(args.workload_selector.items()))},
                "action": "ALLOW",
                "rules": authorization_rules(args),
            },
            opts=child_opts(self, args.policy_provider or args.provider, depends_on=list(args.depends_on)),
        )
        self.exported_hosts = [service_fqdn(args.service, args.namespace)] if args.service_host_exported else []
        self.pod_services = []
        for i in range(args.per_pod_replicas or 0):
            pod = f"{args.service}-{i}"
            self.pod_services.append(
                k8s.core.v1.Service(
                    f"{prefix}-pod-{i}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=pod, namespace=args.namespace, labels=labels),
                    spec=k8s.core.v1.ServiceSpecArgs(
                        type="ClusterIP",
                        selector={POD_NAME_LABEL: pod},
                        ports=service_ports(args.ports),
                    ),
                    opts=child_opts(self, args.provider),
                )
            )
            self.exported_hosts.append(service_fqdn(pod, args.namespace))
        self.local_twin_service: Optional[k8s.core.v1.Service] = None
        if args.local_twin:
            # headless: DNS answers with the address of every ready pod, so a ServiceEntry endpoint
            # naming it (resolution DNS) gives Envoy one host per pod
            self.local_twin_service = k8s.core.v1.Service(
                f"{prefix}-local",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.local_twin, namespace=args.namespace, labels=labels),
                spec=k8s.core.v1.ServiceSpecArgs(
                    cluster_ip="None",
                    selector=dict(sorted(args.workload_selector.items())),
                    ports=service_ports(args.ports),
                ),
                opts=child_opts(self, args.provider),
            )
        self.register_outputs({"exportedHosts": self.exported_hosts})


# ----------------------------------------------------------------------------- consumer side


@dataclass(frozen=True)
class RemoteEndpoint:
    """A producer cluster reached through its east-west gateway."""

    cluster: str  # the producer cluster's name
    address: pulumi.Input[str]  # the gateway address for this consumer (a DNS name)
    network: str  # the producer's Istio network
    locality: str  # <region>[/<zone>]
    # what must exist in the producer before a consumer is pointed at it (published): its
    # TargetGroupBinding and listener, its `cross-network-gateway` (the host), the export's
    # AuthorizationPolicy; the ServiceEntry and DestinationRule wait for them
    ready: Sequence[Dependency] = ()


@dataclass(frozen=True)
class LocalEndpoint:
    """The consumer cluster's own instance (when it is also a producer): `address` is the FQDN of
    the headless twin Service (`ServiceExportArgs.local_twin`), reached on the pods' target ports."""

    cluster: str  # the consumer cluster's name (it also runs the service)
    network: str  # its Istio network
    locality: str  # its locality <region>[/<zone>]
    address: str  # the headless twin Service's FQDN


@dataclass(frozen=True)
class ImportedHost:
    """A consumer-side host and the real FQDN the producer knows (equal without an alias)."""

    host: str  # the host consumers call (the alias, or the real FQDN)
    real_host: str  # the FQDN in the producer clusters (the SNI the gateway routes on)


@dataclass(frozen=True)
class RouteDestination:
    """A share of a route's traffic: the producer cluster (its subset) and the weight in percent."""

    cluster: str
    weight: int


@dataclass(frozen=True)
class HttpRoute:
    """One http route of the consumer's VirtualService; the pieces are Istio's own shapes."""

    name: str
    destinations: Sequence[RouteDestination]
    match: Sequence[Mapping[str, Any]] = ()  # Istio HTTPMatchRequest objects (none: every request)
    timeout: Optional[str] = None
    retries: Optional[Mapping[str, Any]] = None  # Istio HTTPRetry
    fault: Optional[Mapping[str, Any]] = None  # Istio HTTPFaultInjection
    mirror: Optional[str] = None  # the producer cluster that gets a copy of the requests
    mirror_percent: float = 100.0


@dataclass(frozen=True)
class ServiceImportArgs:
    """One service imported into one consumer cluster."""

    cluster: str  # the consumer cluster's name
    service: str  # the service's name (the meshbridge.io/service label)
    namespace: str  # the service's namespace in the producer clusters
    service_account: str  # the producer workload's service account (the ServiceEntry's subjectAltNames)
    trust_domain: str  # the mesh's trust domain (the SPIFFE ID of that service account)
    import_namespace: str  # where the ServiceEntry and DestinationRule objects live
    ports: Sequence[ServicePort]  # the service's ports
    hosts: Sequence[ImportedHost]  # the service host first, then one per pod alias
    remote: Sequence[RemoteEndpoint]  # the producers reached through their east-west gateways
    provider: pulumi.ProviderResource  # the consumer's kubernetes.Provider
    local: Optional[LocalEndpoint] = None  # the consumer's own instance, when it also exports the service
    traffic_policy: Optional[dict[str, Any]] = None  # the user's DestinationRule trafficPolicy
    gateway_port: int = GATEWAY_PORT  # the port of every remote endpoint (the gateway's AUTO_PASSTHROUGH)
    # the ServiceEntry resolution: STATIC only when every endpoint address is an IP (local
    # connectivity with IPv4 gateway addresses, as Istio's multicluster samples), else DNS
    resolution: Literal["DNS", "STATIC"] = "DNS"
    # what the objects wait for: istiod of the cluster, the import namespace, the local twin's export
    depends_on: Sequence[Dependency] = field(default_factory=list)
    # the routes of the service host (its VirtualService), in order; none: no VirtualService
    routes: Sequence[HttpRoute] = ()

    @property
    def failover(self) -> bool:
        return len(self.remote) + (1 if self.local else 0) > 1

    def routed(self, imported: ImportedHost) -> bool:
        """Whether `imported` is the service host (not a per-pod host): the host routes and subsets apply to."""
        return imported.real_host == service_fqdn(self.service, self.namespace)


def _subset(args: ServiceImportArgs, imported: ImportedHost, cluster: str) -> Optional[str]:
    """The subset a route names for `cluster`'s endpoints: only a service host with several producers
    has subsets (with one producer the host is that producer)."""
    return cluster if args.failover and args.routed(imported) else None


def _endpoint_labels(args: ServiceImportArgs, imported: ImportedHost, cluster: str) -> dict[str, str]:
    labels = {TLS_MODE_LABEL: "istio"}
    if _subset(args, imported, cluster):
        labels[PRODUCER_LABEL] = cluster
    return labels


def subsets(args: ServiceImportArgs, imported: ImportedHost) -> list[dict[str, Any]]:
    """DestinationRule subsets: one per producer cluster of a service host with several producers."""
    clusters = [ep.cluster for ep in args.remote] + ([args.local.cluster] if args.local else [])
    return [{"name": c, "labels": {PRODUCER_LABEL: c}} for c in clusters if _subset(args, imported, c)]


def virtual_service_spec(args: ServiceImportArgs, imported: ImportedHost) -> dict[str, Any]:
    """The service host's routes: each destination is the host itself, narrowed to a producer's subset."""

    def destination(cluster: str) -> dict[str, Any]:
        subset = _subset(args, imported, cluster)
        return {"host": imported.host, **({"subset": subset} if subset else {})}

    http: list[dict[str, Any]] = []
    for r in args.routes:
        entry: dict[str, Any] = {"name": r.name}
        if r.match:
            entry["match"] = [copy.deepcopy(dict(m)) for m in r.match]
        entry["route"] = [{"destination": destination(d.cluster), "weight": d.weight} for d in r.destinations]
        if r.timeout is not None:
            entry["timeout"] = r.timeout
        if r.retries is not None:
            entry["retries"] = copy.deepcopy(dict(r.retries))
        if r.fault is not None:
            entry["fault"] = copy.deepcopy(dict(r.fault))
        if r.mirror is not None:
            entry["mirror"] = destination(r.mirror)
            entry["mirrorPercentage"] = {"value": r.mirror_percent}
        http.append(entry)
    return {"hosts": [imported.host], "http": http}


def service_entry_spec(args: ServiceImportArgs, imported: ImportedHost) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = []
    for ep in args.remote:
        endpoints.append(
            {
                "address": ep.address,
                "ports": {p.name: args.gateway_port for p in args.ports},
                "labels": _endpoint_labels(args, imported, ep.cluster),
                "locality": ep.locality,
                "network": ep.network,
            }
        )
    if args.local is not None:
        # one host per ready pod (headless Service), on the pods' own ports
        endpoints.append(
            {
                "address": args.local.address,
                "ports": {p.name: p.target for p in args.ports},
                "labels": _endpoint_labels(args, imported, args.local.cluster),
                "locality": args.local.locality,
                "network": args.local.network,
            }
        )
    return {
        "hosts": [imported.host],
        "location": "MESH_INTERNAL",
        "resolution": args.resolution,
        "ports": [{"number": p.number, "name": p.name, "protocol": p.protocol} for p in args.ports],
        "endpoints": endpoints,
        "subjectAltNames": [spiffe_id(args.trust_domain, args.namespace, args.service_account)],
    }


def traffic_policy(args: ServiceImportArgs, imported: ImportedHost) -> dict[str, Any]:
    """The user's trafficPolicy with meshbridge's TLS (and failover) settings merged in.

    - tls is always ISTIO_MUTUAL (cross-network endpoints without mTLS are dropped);
    - when the host is an alias or has subsets (several producers), the SNI is the one the producer
      gateway routes on (`outbound_.<port>_._.<real FQDN>`), per port through portLevelSettings when there are
      several ports (a port-level entry does not inherit top-level settings, so the user's
      connectionPool/loadBalancer/outlierDetection are repeated in it);
    - with several producers: outlierDetection (failover needs it) and localityLbSetting.
    """
    policy = copy.deepcopy(dict(args.traffic_policy or {}))
    user_ports = {int(p["port"]["number"]): p for p in policy.pop("portLevelSettings", []) or []}
    if args.failover:
        policy.setdefault("outlierDetection", copy.deepcopy(DEFAULT_OUTLIER_DETECTION))
        lb = policy.setdefault("loadBalancer", {})
        lb.setdefault("localityLbSetting", {"enabled": True})
    aliased = imported.host != imported.real_host
    # a subset's cluster would send pilot's own SNI `outbound_.<port>_.<subset>_.<host>`, which no
    # producer gateway routes (it knows no subset of the consumer): the subsets get the real one too
    explicit = aliased or bool(subsets(args, imported))
    if explicit and len(args.ports) == 1 and not user_ports:
        policy["tls"] = {"mode": "ISTIO_MUTUAL", "sni": sni(args.ports[0].number, imported.real_host)}
        return policy
    policy["tls"] = {"mode": "ISTIO_MUTUAL"}
    if not explicit and not user_ports:
        return policy
    levels: list[dict[str, Any]] = []
    numbers = [p.number for p in args.ports] + sorted(n for n in user_ports if n not in {p.number for p in args.ports})
    for number in numbers:
        entry: dict[str, Any] = {"port": {"number": number}}
        for key in PORT_LEVEL_FIELDS:
            if key in policy:
                entry[key] = copy.deepcopy(policy[key])
        for key, value in user_ports.get(number, {}).items():
            if key != "port":
                entry[key] = copy.deepcopy(value)
        entry["tls"] = {"mode": "ISTIO_MUTUAL"}
        if explicit:
            entry["tls"]["sni"] = sni(number, imported.real_host)
        levels.append(entry)
    policy["portLevelSettings"] = levels
    return policy


class ServiceImport(pulumi.ComponentResource):
    """Consumer side of one service in one cluster: a ServiceEntry + DestinationRule per host."""

    service_entries: dict[str, k8s.apiextensions.CustomResource]
    destination_rules: dict[str, k8s.apiextensions.CustomResource]
    virtual_services: dict[str, k8s.apiextensions.CustomResource]
    routes: list[HttpRoute]  # the routes of the service host's VirtualService (none without one)
    hosts: list[str]

    def __init__(self, name: str, args: ServiceImportArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:services:ServiceImport", name, None, opts)
        if not args.remote and args.local is None:
            raise ValueError(f"ServiceImport {name}: no endpoint (no remote producer and no local instance)")
        labels = {**MANAGED_BY, SERVICE_LABEL: args.service}
        self.service_entries = {}
        self.destination_rules = {}
        self.virtual_services = {}
        self.routes = list(args.routes)
        self.hosts = [h.host for h in args.hosts]
        # ready before published: the host appears in the consumer only once every producer behind it
        # can carry and admit the traffic (a moved export waits for its new producer's side)
        after = [*args.depends_on, *(r for ep in args.remote for r in ep.ready)]
        for imported in args.hosts:
            # the object is named after its host: unique in the import namespace (hosts never
            # collide, the config model checks it) and readable in `kubectl get serviceentries`
            meta = k8s.meta.v1.ObjectMetaArgs(name=imported.host, namespace=args.import_namespace, labels=labels)
            self.service_entries[imported.host] = k8s.apiextensions.CustomResource(
                f"{args.cluster}-se-{imported.host}",
                api_version=ISTIO_NETWORKING,
                kind="ServiceEntry",
                metadata=meta,
                spec=service_entry_spec(args, imported),
                opts=child_opts(self, args.provider, depends_on=after),
            )
            spec: dict[str, Any] = {"host": imported.host, "trafficPolicy": traffic_policy(args, imported)}
            host_subsets = subsets(args, imported)
            if host_subsets:
                spec["subsets"] = host_subsets
            self.destination_rules[imported.host] = k8s.apiextensions.CustomResource(
                f"{args.cluster}-dr-{imported.host}",
                api_version=ISTIO_NETWORKING,
                kind="DestinationRule",
                metadata=meta,
                spec=spec,
                opts=child_opts(self, args.provider, depends_on=after),
            )
            if args.routes and args.routed(imported):
                # after the host and the subsets it names: a route to a subset that is not there is a 503
                self.virtual_services[imported.host] = k8s.apiextensions.CustomResource(
                    f"{args.cluster}-vs-{imported.host}",
                    api_version=ISTIO_NETWORKING,
                    kind="VirtualService",
                    metadata=meta,
                    spec=virtual_service_spec(args, imported),
                    opts=child_opts(
                        self,
                        args.provider,
                        depends_on=[
                            *after,
                            self.service_entries[imported.host],
                            self.destination_rules[imported.host],
                        ],
                    ),
                )
        self.register_outputs({"hosts": self.hosts})
