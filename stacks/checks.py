"""Wiring of the deploy-time connectivity checks (`meshbridge:verify.connectivity`).

Per declared path, i.e. per (consumer cluster, imported host, port) of every service whose check is
on, a check Job in the consumer cluster (components/checks.py), in the namespace of the consumer
entry's first principal and as its service account. The Job depends on every object of its path,
in both clusters:
- consumer: the host's ServiceEntry and DestinationRule, the import namespace when meshbridge
  created it, Istio (base, istiod, the mesh-wide PeerAuthentication), the `cacerts` Secret, the
  objects distributed to the cluster (a Sidecar or VirtualService shapes the path too);
- each remote producer: the consumer's `GatewayEndpoint` to it (endpoint, security group, DNS), its
  `PrivateGateway` (NLB, listener, target group, TargetGroupBinding, endpoint service), its
  `EastWestGateway` (release, cross-network Gateway), the service's `ServiceExport`
  (AuthorizationPolicy, per-pod Services), its Istio, its `cacerts`, its distributed objects;
- the consumer itself when it also runs the service: its `ServiceExport` (the headless twin).
So `pulumi up` creates the Job last, waits for it, and fails with the path's name when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pulumi

from components.checks import (
    CheckSettings,
    CheckTarget,
    ConnectivityChecks,
    ConnectivityChecksArgs,
    HttpRequest,
    fingerprint,
    job_name,
)
from components.options import Dependency
from components.services import sni
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import ConsumerSpec, MeshConfig, ServiceSpec
from stacks.discovery import Discovery
from stacks.distribution import Distributions
from stacks.istio import ControlPlanes, EastWestGateways
from stacks.network import Network
from stacks.pki import Pki
from stacks.services import Exports, Imports


@dataclass(frozen=True)
class CheckedPath:
    """One checked path and its Job."""

    consumer: str
    service: str  # the service key <namespace>/<name>
    host: str
    port: int
    producers: tuple[str, ...]
    resource_name: str


@dataclass
class Checks:
    """A `ConnectivityChecks` per consumer cluster with at least one checked path."""

    by_cluster: dict[str, ConnectivityChecks] = field(default_factory=dict)
    paths: list[CheckedPath] = field(default_factory=list)

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        """connectivityChecks: `<host>:<port>` -> `<namespace>/<Job name>` (absent when checks are off)."""
        checks = self.by_cluster.get(name)
        if checks is None:
            return {}
        found: dict[str, str] = {}
        for path in self.paths:
            if path.consumer == name:
                r = path.resource_name
                found[f"{path.host}:{path.port}"] = f"{checks.namespaces[r]}/{checks.job_names[r]}"
        return {"connectivityChecks": dict(sorted(found.items()))}


def check_enabled(cfg: MeshConfig, service: ServiceSpec) -> bool:
    return cfg.verify.connectivity.enabled and (service.check is None or service.check.enabled)


def http_request(cfg: MeshConfig, service: ServiceSpec) -> HttpRequest:
    """The request of the service's HTTP checks: its `check` settings, else `verify.connectivity.http`."""
    default = cfg.verify.connectivity.http
    own = service.check
    status = (own.expect_status if own is not None and own.expect_status else None) or default.expect_status or []
    return HttpRequest(
        path=(own.path if own is not None and own.path else None) or default.path,
        method=(own.method if own is not None and own.method else None) or default.method,
        expect_status=tuple(status),
    )


# keys of mesh.istio that came after the first deployed checks (None when not given)
LATER_ISTIO_KEYS = ("chart_directory", "revisions", "default_revision", "gateway_revision")


def path_fingerprint(cfg: MeshConfig, service: ServiceSpec, consumer: ConsumerSpec, real_host: str) -> dict[str, Any]:
    """What the path is made of, from the configuration: any change re-runs its check."""
    return {
        "service": service.key,
        "realHost": real_host,
        "producers": list(service.exported_from),
        "serviceAccount": service.sa,
        "ports": [p.model_dump(mode="json") for p in service.ports],
        "consumer": consumer.model_dump(mode="json"),
        "trafficPolicy": service.traffic_policy,
        "mesh": {
            "trustDomain": cfg.mesh.trust_domain,
            "mtls": cfg.mesh.mtls,
            "connectivity": cfg.mesh.connectivity,
            "importNamespace": cfg.mesh.import_namespace,
            # keys added later only when set: their arrival must not re-run every deployed check
            "istio": cfg.mesh.istio.model_dump(
                mode="json", exclude={k for k in LATER_ISTIO_KEYS if getattr(cfg.mesh.istio, k) is None}
            ),
        },
    }


def check_settings(cfg: MeshConfig) -> CheckSettings:
    conn = cfg.verify.connectivity
    return CheckSettings(
        image=conn.image,
        retry_seconds=conn.retry_seconds,
        interval_seconds=conn.interval_seconds,
        ttl_seconds_after_finished=conn.ttl_seconds_after_finished,
        revision=cfg.mesh.istio.revision,
    )


@dataclass(frozen=True)
class PlannedCheck:
    """A check of one declared path, from the configuration alone (no resource yet)."""

    service: ServiceSpec
    consumer: ConsumerSpec
    target: CheckTarget  # without depends_on

    @property
    def cluster(self) -> str:
        return self.consumer.cluster


def plan_checks(cfg: MeshConfig) -> list[PlannedCheck]:
    """Every check the configuration asks for, in service, consumer, host, port order (also what
    stacks/config/strict.py lists as meshbridge's own objects)."""
    planned: list[PlannedCheck] = []
    if not cfg.verify.connectivity.enabled:
        return planned
    for s in cfg.services:
        if not check_enabled(cfg, s):
            continue
        request = http_request(cfg, s)
        for cons in s.consumers:
            c = cons.cluster
            local = c in s.exported_from
            producers = (*cfg.remote_producers(s, c), *([c] if local else []))
            where = ", ".join(f"{p} (local)" if p == c else p for p in producers)
            principal = cons.principals[0]
            namespace, service_account = principal.split("/")
            for host, real in s.imported_hosts():
                for port in s.ports:
                    target = CheckTarget(
                        resource_name=names.connectivity_check(c, host, port.port),
                        host=host,
                        port=port.port,
                        protocol=port.protocol,
                        namespace=namespace,
                        service_account=service_account,
                        description=(
                            f"{c} -> {host}:{port.port} ({s.key} {port.protocol}, SNI "
                            f"{sni(port.port, real)}, exported from {where}; as {principal})"
                        ),
                        http=request,
                        fingerprint=path_fingerprint(cfg, s, cons, real),
                    )
                    planned.append(PlannedCheck(s, cons, target))
    return planned


def planned_jobs(cfg: MeshConfig) -> list[tuple[str, str, str]]:
    """(cluster, namespace, Job name) of every planned check."""
    settings = check_settings(cfg)
    return [
        (pc.cluster, pc.target.namespace, job_name(pc.target, fingerprint(pc.cluster, settings, pc.target)))
        for pc in plan_checks(cfg)
    ]


def wire_checks(
    cfg: MeshConfig,
    clusters: Clusters,
    pki: Pki,
    control_planes: ControlPlanes,
    exports: Exports,
    eastwest: EastWestGateways,
    network: Network,
    discovery: Discovery,
    imports: Imports,
    distributions: Distributions,
) -> Checks:
    checks = Checks()
    remotes = cfg.remote_clusters()

    def distributed(cluster: str) -> list[pulumi.Resource]:
        return [obj for d in distributions.by_name.values() for obj in d.objects.get(cluster, [])]

    def cluster_parts(cluster: str) -> list[Dependency]:
        return [*control_planes.by_cluster[cluster].whole, pki.cacerts[cluster], *distributed(cluster)]

    def path_needs(s: ServiceSpec, c: str) -> list[Dependency]:
        """Everything a path of `s` into consumer `c` needs besides the host's own import objects."""
        needs: list[Dependency] = [*cluster_parts(c)]
        if c in imports.namespaces:
            needs.append(imports.namespaces[c])
        for p in cfg.remote_producers(s, c):
            if (c, p) in network.endpoints:  # privatelink mode: the consumer's interface endpoint
                needs.append(network.endpoints[(c, p)])
            if p in network.gateways:  # AWS modes: the producer's NLB (none in local connectivity)
                needs.append(network.gateways[p])
            # (a remote of primary-remote: the primary's Gateway with p's host is eastwest.ready(p))
            needs.extend(
                [*eastwest.by_cluster[p].whole, *eastwest.ready(p), exports.by_key[(s.key, p)], *cluster_parts(p)]
            )
            # a discovered service: the istiod serving c reads p through a remote secret (none when
            # p is that istiod's own cluster)
            holder = str(cfg.mesh.primary_cluster) if c in remotes else c
            if s.import_mode == "discovery" and (holder, p) in discovery.remote_secrets:
                needs.append(discovery.remote_secrets[(holder, p)])
        if c in s.exported_from:
            needs.append(exports.by_key[(s.key, c)])
        return needs

    targets: dict[str, list[CheckTarget]] = {}
    needs_of: dict[tuple[str, str], list[Dependency]] = {}
    for pc in plan_checks(cfg):
        s, c, t = pc.service, pc.cluster, pc.target
        if (s.key, c) not in needs_of:
            needs_of[(s.key, c)] = path_needs(s, c)
        # a discovered service has no import objects of its own (istiod knows it from the producer)
        imp = imports.by_key.get((s.key, c))
        own = [imp.service_entries[t.host], imp.destination_rules[t.host]] if imp is not None else []
        targets.setdefault(c, []).append(replace(t, depends_on=[*own, *needs_of[(s.key, c)]]))
        producers = (*cfg.remote_producers(s, c), *([c] if c in s.exported_from else []))
        checks.paths.append(CheckedPath(c, s.key, t.host, t.port, producers, t.resource_name))
    settings = check_settings(cfg)
    for spec in cfg.clusters:
        if spec.name not in targets:
            continue
        cluster = clusters[spec.name]
        checks.by_cluster[spec.name] = ConnectivityChecks(
            names.connectivity_checks(spec.name),
            ConnectivityChecksArgs(
                cluster=spec.name, provider=cluster.k8s_provider, checks=targets[spec.name], settings=settings
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return checks
