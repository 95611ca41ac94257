"""Checks of the whole validated configuration that keep meshbridge fail-closed.

Called by `stacks.config.load.parse_config` after the model and the cross-checks passed; every check is
one pass over the configuration (dictionaries, no nested loops over services), so 10,000 services
validate in about the time it takes to read them. Each problem is one line starting with its key path.

- `services[].trafficPolicy`: the DestinationRule schema of the pinned Istio CRDs and istiod's own
  checks (stacks/config/trafficpolicy.py), plus what meshbridge needs: port-level settings only for ports
  the service has (once each), no `tls` (meshbridge sets ISTIO_MUTUAL and the SNI) and no `tunnel`
  or `proxyProtocol` (the connection must reach the east-west gateway as mTLS, which routes it on SNI);
- names: per-pod Service names `<name>-<i>` are DNS-1035 labels of at most 63 characters; an alias is
  none of the service's own per-pod hosts;
- ownership: `mesh.importNamespace` is istio-system or a namespace that only meshbridge uses (it
  creates it and would delete it on destroy): never `default`, `kube-*`, or a namespace of the
  services or their callers; a distributed object never is an object meshbridge or its Istio Helm
  releases own (the `cacerts` Secret, `PeerAuthentication istio-system/default`, the Gateway, imports,
  authorization policies, ...), never is the same object as another distributed object, and never
  shares its synth file name or its resource name with another; with STRICT mTLS no distributed
  PeerAuthentication weakens it;
- authorization: a principal declared by two consumers of a service has the same methods/paths in
  both (one identity in every cluster: Istio would admit the union).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any, Optional

from components.awspca import CLUSTER_ISSUER_NAME, PCA_CLUSTER_ISSUER, PCA_GROUP
from components.certmanager import CA_ISSUER_NAME
from components.constants import (
    EASTWEST_RELEASE,
    INGRESS_RELEASE,
    INGRESS_SELECTOR,
    ISTIO_NAMESPACE,
    MESH_TELEMETRY,
)
from components.discovery import READER, READER_TOKEN, remote_secret_name
from components.distribution import object_key
from components.istio import CROSS_NETWORK_GATEWAY, ISTIOD_GATEWAY, ISTIOD_VIRTUAL_SERVICE
from components.network import ISTIOD_PORTS
from components.pki import CACERTS_NAME
from components.services import baseline_policy_name, export_policy_name
from stacks.config.exposure import (
    EXPORTS,
    ROUTED,
    exposure_problem,
    gateway_selection_problem,
    mesh_host_problems,
    policy_scope_problem,
    privileged_class,
    sidecar_hides_problem,
)
from stacks.config.model import (
    DNS_1035_RE,
    DNS_LABEL_RE,
    DNS_NAME_RE,
    LOCAL_TWIN_SUFFIX,
    AwsPcaSettings,
    MeshConfig,
    ServiceSpec,
    label_problem,
)
from stacks.config.problems import key_path, show
from stacks.names import object_filename

Identity = tuple[str, str, str, str]  # (API group, kind, namespace or "", name)

API_VERSION_RE = re.compile(
    r"\A(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?)\Z"
)
KIND_RE = re.compile(r"\A[A-Z][A-Za-z0-9]{0,62}\Z")
# groups of Istio configuration kinds (checked against the pinned CRD schemas)
ISTIO_CONFIG_GROUP_RE = re.compile(r"\A[a-z]+\.istio\.io\Z")
# cluster-scoped objects installed by the Istio charts and the AWS Load Balancer Controller
OWNED_CLUSTER_SCOPED_PREFIXES = ("istio",)
OWNED_CRD_GROUP_RE = re.compile(r"(\.|\A)istio\.io\Z|\Aelbv2\.k8s\.aws\Z")
WEAK_MTLS = ("DISABLE", "PERMISSIVE")


# a URL with a userinfo part (`scheme://user[:password]@host`): the "@" comes before any "/", "?" or "#"
URL_USERINFO_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s]*@")


def url_credential_problems(at: str, value: Any) -> list[str]:
    """Every string of `value` (a configuration value, any depth) that holds a URL with credentials
    (`https://user:password@host/...`): meshbridge would write them in clear into Kubernetes objects,
    the stack outputs and synth's tree. The data of a distributed `kind: Secret` is the exception
    (that is where a credential belongs; synth shows its keys only), and so is a secret kubeconfig.
    The value itself is not repeated in the message."""
    p: list[str] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while todo:
        loc, node = todo.pop()
        if isinstance(node, str):
            if "@" in node and URL_USERINFO_RE.search(node):
                p.append(
                    f"{key_path(at, loc)}: holds a URL with credentials (user:password@ before the host), which "
                    "would be written in clear to Kubernetes objects, stack outputs and synth's files: remove "
                    "them and give the credentials as a Kubernetes Secret (e.g. a distributed kind: Secret)"
                )
        elif isinstance(node, dict):
            secret = node.get("kind") == "Secret"
            for k, v in node.items():
                if (secret and k in ("data", "stringData")) or (loc[-1:] == ("kubernetes",) and k == "kubeconfig"):
                    continue
                todo.append(((*loc, k), v))
        elif isinstance(node, list):
            todo.extend(((*loc, i), v) for i, v in enumerate(node))
    return sorted(p)


def strict_checks(cfg: MeshConfig, manifests: list[list[dict[str, Any]]]) -> list[str]:
    p: list[str] = []
    policies: dict[str, list[tuple[tuple[Any, ...], str]]] = {}  # identical policies are checked once
    regions = {c.name: c.region for c in cfg.clusters}
    for i, s in enumerate(cfg.services):
        p.extend(_service(f"meshbridge:services[{i}]", s, policies))
        p.extend(_failover(f"meshbridge:services[{i}]", s, regions))
    p.extend(_import_namespace(cfg))
    p.extend(_distribution(cfg, manifests))
    return p


# ---------------------------------------------------------------------------------- services


def _service(at: str, s: ServiceSpec, cache: dict[str, list[tuple[tuple[Any, ...], str]]]) -> list[str]:
    from stacks.config.trafficpolicy import SchemaUnavailableError, problems

    p: list[str] = []
    if s.per_pod is not None:
        longest = f"{s.name}-{s.per_pod.replicas - 1}"
        if not DNS_1035_RE.match(longest):
            p.append(
                f"{at}.perPod.replicas: the per-pod Service {show(longest)} would not be a valid Service name "
                "(DNS-1035 label of at most 63 characters): shorten the name"
            )
        if s.alias is not None and s.alias in {alias for alias, _ in s.pod_hosts()}:
            p.append(f"{at}.alias: {show(s.alias)} is also one of the service's per-pod hosts")
    if len(s.exported_from) > 1 and len(s.name) + len(LOCAL_TWIN_SUFFIX) > 63:
        p.append(
            f"{at}.name: {show(s.name)} is too long for the headless twin Service a multi-producer service gets "
            f"(at most {63 - len(LOCAL_TWIN_SUFFIX)} characters)"
        )
    p.extend(_shared_principals(at, s))
    policy = s.traffic_policy
    if policy is None:
        return p
    tp = f"{at}.trafficPolicy"
    key = json.dumps(policy, sort_keys=True, allow_nan=True, default=str)
    if key not in cache:
        try:
            cache[key] = problems(policy)
        except SchemaUnavailableError as exc:
            return [*p, f"{tp}: cannot be checked: {exc}"]
    found = cache[key]
    p.extend(f"{key_path(tp, loc)}: {msg}" if loc else f"{tp}: {msg}" for loc, msg in found)
    if found:
        return p
    for field in ("tunnel", "proxyProtocol"):
        if field in policy:
            p.append(
                f"{tp}.{field}: not supported: imported traffic must reach the producer's east-west gateway as "
                "Istio mTLS (AUTO_PASSTHROUGH routes on its SNI)"
            )
    ports = {port.port for port in s.ports}
    seen: dict[int, int] = {}
    for j, entry in enumerate(policy.get("portLevelSettings") or []):
        number = entry["port"]["number"]
        pat = f"{tp}.portLevelSettings[{j}]"
        if number not in ports:
            p.append(
                f"{pat}.port.number: {number} is not a port of the service "
                f"(ports: {', '.join(str(x) for x in sorted(ports))})"
            )
        if number in seen:
            p.append(f"{pat}.port.number: port {number} already has settings in portLevelSettings[{seen[number]}]")
        seen.setdefault(number, j)
        if "tls" in entry:
            p.append(f"{pat}.tls: set by meshbridge (ISTIO_MUTUAL with SNI), remove it")
    return p


def _failover(at: str, s: ServiceSpec, regions: dict[str, str]) -> list[str]:
    """`localityLbSetting.failover` that cannot do what it says: failover of a service exported from
    one cluster (no other locality to fail over to) and a region no cluster of the mesh is in. (A pair
    that fails over both ways, a -> b and b -> a, is fine: pilot applies to each proxy the entry of
    its own region; the judge checks the priorities it computes. It was refused while the judge's
    proxies had no locality, which made pilot crash.) Runs on a policy that passed the schema checks."""
    policy = s.traffic_policy
    if not isinstance(policy, dict):
        return []
    levels: list[tuple[str, Any]] = [("", policy)]
    entries = policy.get("portLevelSettings")
    levels += [(f".portLevelSettings[{k}]", e) for k, e in enumerate(entries if isinstance(entries, list) else [])]
    known = sorted(set(regions.values()))
    p: list[str] = []
    for where, level in levels:
        balancer = level.get("loadBalancer") if isinstance(level, dict) else None
        locality = balancer.get("localityLbSetting") if isinstance(balancer, dict) else None
        failover = locality.get("failover") if isinstance(locality, dict) else None
        if not isinstance(failover, list) or not failover:
            continue
        fat = f"{at}.trafficPolicy{where}.loadBalancer.localityLbSetting.failover"
        if len(s.exported_from) < 2:
            p.append(
                f"{fat}: {s.key} is exported from one cluster: there is no other locality to fail over to (remove it)"
            )
            continue
        for k, entry in enumerate(failover):
            if not isinstance(entry, dict):
                continue
            for key in ("from", "to"):
                region = entry.get(key)
                if isinstance(region, str) and region not in known:
                    p.append(
                        f"{fat}[{k}].{key}: {show(region)} is no region of a cluster of the mesh ({', '.join(known)})"
                    )
    return p


def _shared_principals(at: str, s: ServiceSpec) -> list[str]:
    """A principal (`ns/sa`) is one identity in every cluster (one trust domain): two consumer entries
    that give it different methods/paths would both be admitted by Istio for it (the union)."""
    p: list[str] = []
    first: dict[str, tuple[int, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for j, cons in enumerate(s.consumers):
        ops = (tuple(sorted(set(cons.methods or ()))), tuple(sorted(set(cons.paths or ()))))
        for k, principal in enumerate(cons.principals):
            other, other_ops = first.setdefault(principal, (j, ops))
            if other_ops != ops:
                p.append(
                    f"{at}.consumers[{j}].principals[{k}]: {principal} is also a principal of consumers[{other}] "
                    f"({s.consumers[other].cluster}) with other methods/paths: one identity in every cluster, so "
                    "Istio cannot tell them apart and would admit the union; give both entries the same methods "
                    "and paths, or use distinct service accounts"
                )
    return p


# ---------------------------------------------------------------------------------- ownership


def _app_namespaces(cfg: MeshConfig) -> dict[str, str]:
    """Namespaces of applications (namespace -> where the config names it first)."""
    found: dict[str, str] = {}
    for i, s in enumerate(cfg.services):
        at = f"services[{i}]"
        found.setdefault(s.namespace, f"{at}.namespace")
        for j, cons in enumerate(s.consumers):
            for k, principal in enumerate(cons.principals):
                found.setdefault(principal.split("/")[0], f"{at}.consumers[{j}].principals[{k}]")
        local = getattr(s, "local_callers", None)
        if local is not None:
            for k, ns in enumerate(local.namespaces):
                found.setdefault(ns, f"{at}.localCallers.namespaces[{k}]")
            for k, principal in enumerate(local.principals):
                found.setdefault(principal.split("/")[0], f"{at}.localCallers.principals[{k}]")
    return found


def _import_namespace(cfg: MeshConfig) -> list[str]:
    ns = cfg.mesh.import_namespace
    at = "meshbridge:mesh.importNamespace"
    if ns == ISTIO_NAMESPACE:
        return []
    if ns in ("default", "kube-system", "kube-public", "kube-node-lease") or ns.startswith("kube-"):
        return [
            f"{at}: {ns!r} is a namespace meshbridge does not create: it would own it and delete it on destroy; "
            f"use {ISTIO_NAMESPACE} or a namespace only meshbridge uses"
        ]
    apps = _app_namespaces(cfg)
    if ns in apps:
        return [
            f"{at}: {ns!r} is an application namespace ({apps[ns]}): meshbridge would own it and delete it on "
            f"destroy; use {ISTIO_NAMESPACE} or a namespace only meshbridge uses"
        ]
    return []


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def owned_objects(cfg: MeshConfig) -> dict[str, dict[Identity, str]]:
    """cluster -> the Kubernetes objects meshbridge creates there (identity -> what it is)."""
    import_ns = cfg.mesh.import_namespace
    producers = set(cfg.producers())
    # the clusters whose API server holds a cross-network-gateway (a remote's: the primary)
    gateway_configs = {cfg.config_cluster(p) for p in producers}
    owned: dict[str, dict[Identity, str]] = {}
    for c in cfg.clusters:
        objs = owned.setdefault(c.name, {})
        objs[("", "Namespace", "", ISTIO_NAMESPACE)] = "the istio-system Namespace"
        objs[("", "Secret", ISTIO_NAMESPACE, CACERTS_NAME)] = "the cacerts Secret (the cluster's CA)"
        objs[("security.istio.io", "PeerAuthentication", ISTIO_NAMESPACE, "default")] = "the mesh-wide mTLS policy"
        if cfg.mesh.discovery:
            # endpoint discovery (stacks/discovery.py): the reader istiods of other clusters use, and
            # the remote secrets of the clusters this one's istiod reads
            objs[("", "ServiceAccount", ISTIO_NAMESPACE, READER)] = "the reader of endpoint discovery"
            objs[("", "Secret", ISTIO_NAMESPACE, READER_TOKEN)] = "the reader's token"
            objs[("rbac.authorization.k8s.io", "ClusterRole", "", READER)] = "the reader's ClusterRole"
            objs[("rbac.authorization.k8s.io", "ClusterRoleBinding", "", READER)] = "the reader's ClusterRoleBinding"
            for other in cfg.clusters:
                if other.name != c.name:
                    objs[("", "Secret", ISTIO_NAMESPACE, remote_secret_name(other.name))] = (
                        f"the remote secret of {other.name}"
                    )
        if c.name in gateway_configs and cfg.exposes_istiod(c.name):
            objs[("networking.istio.io", "Gateway", ISTIO_NAMESPACE, ISTIOD_GATEWAY)] = "the istiod Gateway"
            objs[("networking.istio.io", "VirtualService", ISTIO_NAMESPACE, ISTIOD_VIRTUAL_SERVICE)] = (
                "the istiod VirtualService"
            )
        for w in cfg.workloads:
            if w.cluster != c.name:
                continue
            group = f"workload group {w.name}"
            objs[("networking.istio.io", "WorkloadGroup", w.namespace, w.name)] = f"the WorkloadGroup of {group}"
            for inst in w.instances:
                objs[("networking.istio.io", "WorkloadEntry", w.namespace, w.entry_name(inst))] = (
                    f"the WorkloadEntry of {inst.address} ({group})"
                )
            for s in cfg.services:
                if s.workload_group == w.name:
                    objs[("", "Service", w.namespace, s.name)] = f"the Service of {s.key} (backed by {group})"
        cm = cfg.ca.cert_manager if cfg.ca.backend == "cert-manager" else None
        pca = (cfg.ca.aws_pca or AwsPcaSettings()) if cfg.ca.backend == "aws-pca" else None
        if cm is not None or pca is not None:
            objs[("cert-manager.io", "Certificate", ISTIO_NAMESPACE, CACERTS_NAME)] = (
                "the Certificate of the cluster's CA"
            )
        if cm is not None:
            if cm.issuer.ca_secret_name is not None:
                objs[("cert-manager.io", "Issuer", ISTIO_NAMESPACE, CA_ISSUER_NAME)] = "the mesh root's CA Issuer"
            if cm.install.enabled:
                objs[("", "Namespace", "", cm.install.namespace)] = "cert-manager's Namespace"
        if pca is not None:
            objs[(PCA_GROUP, PCA_CLUSTER_ISSUER, "", CLUSTER_ISSUER_NAME)] = "the AWS Private CA's cluster issuer"
            if pca.cert_manager.enabled:
                objs[("", "Namespace", "", pca.cert_manager.namespace)] = "cert-manager's Namespace"
        if cfg.observability.access_logging or cfg.observability.tracing:
            objs[("telemetry.istio.io", "Telemetry", ISTIO_NAMESPACE, MESH_TELEMETRY)] = "the mesh-wide Telemetry"
        if import_ns != ISTIO_NAMESPACE:
            objs[("", "Namespace", "", import_ns)] = "the import Namespace"
        if c.name in gateway_configs:
            objs[("networking.istio.io", "Gateway", ISTIO_NAMESPACE, CROSS_NETWORK_GATEWAY)] = "the east-west Gateway"
        if c.name in producers:
            objs[("elbv2.k8s.aws", "TargetGroupBinding", ISTIO_NAMESPACE, EASTWEST_RELEASE)] = (
                "the east-west gateway's TargetGroupBinding"
            )
            if cfg.exposes_istiod(c.name):
                for target in sorted(set(ISTIOD_PORTS.values())):
                    objs[("elbv2.k8s.aws", "TargetGroupBinding", ISTIO_NAMESPACE, f"{EASTWEST_RELEASE}-{target}")] = (
                        f"the east-west gateway's TargetGroupBinding of istiod's port {target}"
                    )
    from stacks.checks import planned_jobs  # the wiring of the checks imports the whole composition

    for cluster, namespace, job in planned_jobs(cfg):
        owned.setdefault(cluster, {})[("batch", "Job", namespace, job)] = "a connectivity check"
    for s in cfg.services:
        for producer in s.exported_from:
            objs = owned.setdefault(producer, {})
            what = f"part of the export of {s.namespace}/{s.name}"
            # the policies where the producer's istiod reads them (a remote's: in the primary)
            config = cfg.config_cluster(producer)
            policy = export_policy_name(s.name, producer if config != producer else None)
            policies = owned.setdefault(config, {})
            policies[("security.istio.io", "AuthorizationPolicy", s.namespace, policy)] = what
            baseline = baseline_policy_name(s.workload_selector)
            policies[("security.istio.io", "AuthorizationPolicy", s.namespace, baseline)] = "an allow-nothing baseline"
            for _alias, real in s.pod_hosts():
                objs[("", "Service", s.namespace, real.split(".", 1)[0])] = what
            objs[("", "Service", s.namespace, f"{s.name}{LOCAL_TWIN_SUFFIX}")] = what
        for cons in s.consumers:
            objs = owned.setdefault(cons.cluster, {})
            for host, real in s.imported_hosts():
                what = f"the import of {host}"
                objs[("networking.istio.io", "ServiceEntry", import_ns, host)] = what
                objs[("networking.istio.io", "DestinationRule", import_ns, host)] = what
                if s.routing is not None and real == s.fqdn():
                    objs[("networking.istio.io", "VirtualService", import_ns, host)] = f"the routing of {host}"
    return owned


def _manifest_problems(at: str, obj: dict[str, Any]) -> list[str]:
    """Types and formats of the identifying fields (apiVersion, kind, metadata)."""
    p: list[str] = []
    api, kind, meta = obj.get("apiVersion"), obj.get("kind"), obj.get("metadata")
    if not isinstance(api, str) or not API_VERSION_RE.match(api):
        p.append(f"{at}.apiVersion: {show(api)} is not an apiVersion such as v1 or networking.istio.io/v1")
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        p.append(f"{at}.kind: {show(kind)} is not a Kubernetes kind such as ConfigMap")
    elif kind.endswith("List"):
        p.append(
            f"{at}.kind: a {kind} holds other objects, which meshbridge would apply unchecked: give its items "
            "as objects of the entry"
        )
    if not isinstance(meta, dict):
        return [*p, f"{at}.metadata: must be a mapping"]
    name, ns = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not DNS_NAME_RE.match(name):
        p.append(f"{at}.metadata.name: {show(name)} is not a valid object name")
    if ns is not None and (not isinstance(ns, str) or not DNS_LABEL_RE.match(ns)):
        p.append(f"{at}.metadata.namespace: {show(ns)} is not a valid namespace name")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not isinstance(value, dict):
            p.append(f"{at}.metadata.{field}: must be a mapping")
    for key, value in (meta.get("labels") or {}).items() if isinstance(meta.get("labels"), dict) else ():
        problem = label_problem(key, value)
        if problem:
            p.append(f"{key_path(at + '.metadata.labels', [key])}: {problem}")
    return p


def _owner_rule(ident: Identity) -> Optional[str]:
    """Objects that belong to Istio's Helm releases or the controllers, whatever the config says."""
    group, kind, ns, name = ident
    if ns == ISTIO_NAMESPACE and not ISTIO_CONFIG_GROUP_RE.match(group) and name.startswith("istio"):
        return (
            f"the {kind} {ns}/{name}: in {ISTIO_NAMESPACE}, objects named istio* belong to the Istio Helm "
            "releases (istiod, the east-west gateway)"
        )
    if (group, kind, name) == ("", "ConfigMap", "istio-ca-root-cert"):
        return "the ConfigMap istio-ca-root-cert, which istiod writes into every namespace"
    if kind == "CustomResourceDefinition" and OWNED_CRD_GROUP_RE.search(name.partition(".")[2]):
        return f"the CRD {name}, installed by the Istio base chart or the AWS Load Balancer Controller"
    if not ns and kind != "Namespace" and name.startswith(OWNED_CLUSTER_SCOPED_PREFIXES):
        return f"the cluster-scoped {kind} {name}: names starting with 'istio' belong to the Istio charts"
    return None


def _distribution(cfg: MeshConfig, manifests: list[list[dict[str, Any]]]) -> list[str]:
    if not cfg.distribute:
        return []
    owned = owned_objects(cfg)
    apps = _app_namespaces(cfg)
    mesh_hosts, exported = _mesh_hosts(cfg)
    host_ports = _host_ports(cfg)
    imported = _imports(cfg)
    p: list[str] = []
    given: dict[tuple[str, Identity], str] = {}  # (cluster, identity) -> key path of the first
    files: dict[tuple[str, str], tuple[Identity, str]] = {}  # (cluster, synth file name) -> first
    names: dict[str, str] = {}  # resource name -> key path of the first
    ingress = {c.name for c in cfg.clusters if c.ingress_gateway is not None}
    # a synth file name starts with the kind in lower case: only owned objects of a distributed kind
    # can share one with a distributed object
    kinds = {str(o.get("kind")).lower() for objs in manifests for o in objs if isinstance(o, dict)}
    for cluster, objs in owned.items():
        for owned_ident, what in objs.items():
            _api_group, kind, ns, name = owned_ident
            if kind.lower() in kinds:
                fake = {"kind": kind, "metadata": {"name": name, **({"namespace": ns} if ns else {})}}
                files.setdefault((cluster, object_filename(fake)), (owned_ident, what))
    for i, d in enumerate(cfg.distribute):
        targets = cfg.selected_clusters(i)
        where = "file" if d.file is not None else "manifests"
        for j, obj in enumerate(manifests[i] if i < len(manifests) else []):
            at = f"meshbridge:distribute[{i}].{where}[{j}]"
            if not isinstance(obj, dict):
                continue  # reported by stacks.config.checks.check_manifest
            found = _manifest_problems(at, obj)
            if found:
                p.extend(found)
                continue
            istio = _istio_problems(at, obj)
            if istio:
                p.extend(istio)
                continue
            meta = obj["metadata"]
            ident: Identity = (_group(obj["apiVersion"]), obj["kind"], meta.get("namespace") or "", meta["name"])
            rule = _owner_rule(ident)
            if rule:
                p.append(f"{at}: may not replace {rule}")
                continue
            p.extend(_exposure(at, obj, cfg, d.acknowledge, apps))
            p.extend(_gateway_without_gateway(at, obj, targets, ingress))
            if (
                cfg.mesh.mtls == "STRICT"
                and ident[:2] == ("security.istio.io", "PeerAuthentication")
                and _weakens_mtls(obj.get("spec"))
            ):
                p.append(
                    f"{at}.spec: a PeerAuthentication with mode DISABLE or PERMISSIVE weakens meshbridge:mesh.mtls "
                    "STRICT; change mesh.mtls instead"
                )
            described = f"{obj['kind']} {ident[2] + '/' if ident[2] else ''}{ident[3]}"
            resource = f"{{cluster}}-{d.name}-{object_key(obj)}"
            for cluster in targets:
                in_cluster = owned.get(cluster, {})
                if ident in in_cluster:
                    p.append(
                        f"{at}: {described} is {in_cluster[ident]}, which meshbridge manages in {cluster}; remove it"
                    )
                    continue
                host_problems = mesh_host_problems(obj, mesh_hosts.get(cluster, {}), host_ports)
                p.extend(f"{at}.{where}: {why}" for where, why in host_problems)
                hidden = sidecar_hides_problem(obj, imported.get(cluster, []), cfg.mesh.import_namespace)
                if hidden:
                    p.append(f"{at}.{hidden[0]}: {hidden[1]}")
                scope = policy_scope_problem(obj, exported.get(cluster, []))
                if scope:
                    p.append(f"{at}.{scope[0]}: {scope[1]}")
                if (cluster, ident) in given:
                    p.append(f"{at}: {described} is also distributed to {cluster} by {given[cluster, ident]}")
                    continue
                given[(cluster, ident)] = at.removeprefix("meshbridge:")
                fname = object_filename(obj)
                first = files.setdefault((cluster, fname), (ident, at.removeprefix("meshbridge:")))
                if first[0] != ident:
                    p.append(
                        f"{at}: {described} and {first[1]} would both be written to clusters/{cluster}/{fname} "
                        "by synth (a reviewer would see only one); rename one of them"
                    )
                rname = resource.format(cluster=cluster)
                short = at.removeprefix("meshbridge:")
                if names.setdefault(rname, short) != short:
                    p.append(f"{at}: its resource name {rname!r} is also the name of {names[rname]}; rename one")
    return list(dict.fromkeys(p))


def _mesh_hosts(cfg: MeshConfig) -> tuple[dict[str, dict[str, str]], dict[str, list[tuple[str, dict[str, str], str]]]]:
    """Per cluster: the hosts meshbridge imports there or exports from there (host -> what it is), and
    the exported workloads (namespace, workload labels, service key)."""
    hosts: dict[str, dict[str, str]] = {}
    exported: dict[str, list[tuple[str, dict[str, str], str]]] = {}
    for i, s in enumerate(cfg.services):
        for prod in s.exported_from:
            mine = hosts.setdefault(prod, {})
            for real in (s.fqdn(), *(r for _, r in s.pod_hosts())):
                mine.setdefault(real, f"which services[{i}]{EXPORTS}")
            exported.setdefault(prod, []).append((s.namespace, s.workload_selector, s.key))
        for cons in s.consumers:
            mine = hosts.setdefault(cons.cluster, {})
            for host, real in s.imported_hosts():
                routed = s.routing is not None and real == s.fqdn()
                mine.setdefault(host, f"which services[{i}] imports" + (ROUTED if routed else ""))
    return hosts, exported


def _host_ports(cfg: MeshConfig) -> dict[str, frozenset[int]]:
    """Every host meshbridge imports or exports (aliases, real and per-pod FQDNs) -> its service's ports."""
    out: dict[str, frozenset[int]] = {}
    for s in cfg.services:
        ports = frozenset(p.port for p in s.ports)
        for host, real in (*s.imported_hosts(), (s.fqdn(), s.fqdn()), *s.pod_hosts()):
            out[host] = out[real] = ports
    return out


def _imports(cfg: MeshConfig) -> dict[str, list[tuple[str, set[str]]]]:
    """Per consumer cluster: each imported host and the namespaces of its consumer principals there."""
    out: dict[str, dict[str, set[str]]] = {}
    for s in cfg.services:
        if s.import_mode != "explicit":
            continue  # discovery: the producers' own Service hosts, no ServiceEntry in the import namespace
        for cons in s.consumers:
            callers = {principal.split("/")[0] for principal in cons.principals}
            for host, _real in s.imported_hosts():
                out.setdefault(cons.cluster, {}).setdefault(host, set()).update(callers)
    return {cluster: list(hosts.items()) for cluster, hosts in out.items()}


# the labels of the ingress gateway pods (components/istio.py ingress_values)
INGRESS_LABELS = {"app": INGRESS_RELEASE, **INGRESS_SELECTOR}


def _gateway_without_gateway(
    at: str, obj: dict[str, Any], clusters: Sequence[str], ingress: Collection[str]
) -> list[str]:
    """A distributed Istio Gateway binds to the gateway pods its selector matches. meshbridge installs
    the east-west gateway, which no distributed object may select (stacks/config/exposure.py), and, on the
    clusters with `ingressGateway`, the ingress gateway (pods labelled istio=ingressgateway). Any
    other selector, or the ingress selector on a cluster without one, matches nothing: the Gateway
    would configure no proxy (Istio's judge refuses it: "exists but no gateway chart is installed")."""
    if obj.get("kind") != "Gateway" or _group(str(obj.get("apiVersion"))) != "networking.istio.io":
        return []
    if gateway_selection_problem(obj):
        return []  # reported as selecting the east-west gateway
    selector = (obj.get("spec") or {}).get("selector") if isinstance(obj.get("spec"), dict) else None
    shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) if isinstance(selector, dict) else "none"
    matches_ingress = (
        isinstance(selector, dict) and bool(selector) and all(INGRESS_LABELS.get(k) == v for k, v in selector.items())
    )
    if matches_ingress:
        without = [c for c in clusters if c not in ingress]
        if not without:
            return []
        return [
            f"{at}.spec.selector: ({shown}) selects the ingress gateway, which {', '.join(without)} "
            "does not have: set meshbridge:clusters[<i>].ingressGateway there, or leave it out of clusterSelector"
        ]
    where = ", ".join(clusters) or "any cluster"
    return [
        f"{at}.spec.selector: ({shown}) matches no gateway meshbridge installs in {where}: "
        "the east-west gateway may not be selected by distributed objects, and the ingress gateway "
        f"(meshbridge:clusters[<i>].ingressGateway) has the labels {INGRESS_LABELS}; a Gateway here would "
        "configure no proxy"
    ]


def _exposure(
    at: str, obj: dict[str, Any], cfg: MeshConfig, acknowledged: Sequence[str], apps: dict[str, str]
) -> list[str]:
    """Exposure, meshbridge's gateways, namespaces and privileged objects (stacks/config/exposure.py)."""
    p: list[str] = []
    kind, meta = obj["kind"], obj["metadata"]
    found = exposure_problem(obj, aws=cfg.mesh.connectivity != "local")
    if found:
        p.append(f"{at}.{found[0]}: {found[1]}")
    found = gateway_selection_problem(obj)
    if found:
        p.append(f"{at}.{found[0]}: {found[1]}")
    if kind == "Namespace" and not _group(obj["apiVersion"]):
        ns = meta["name"]
        if ns in ("default", ISTIO_NAMESPACE) or ns.startswith("kube-"):
            p.append(
                f"{at}.metadata.name: {ns!r} is a namespace meshbridge does not create: as a distributed object "
                "meshbridge would own it and delete it (and everything in it) on destroy"
            )
        elif ns in apps:
            p.append(
                f"{at}.metadata.name: {ns!r} is an application namespace ({apps[ns]}): as a distributed object "
                "meshbridge would own it and delete it (and the application) on destroy, the rule of "
                "mesh.importNamespace; leave the namespace to its application"
            )
    privileged = privileged_class(obj)
    if privileged and privileged[0] not in acknowledged:
        entry = at.rsplit(".", 1)[0]
        p.append(
            f"{at}: {privileged[1]} needs an explicit acknowledgement: add {privileged[0]} to "
            f"{entry.removeprefix('meshbridge:')}.acknowledge (synth lists every such object in its summary)"
        )
    return p


def _istio_problems(at: str, obj: dict[str, Any]) -> list[str]:
    """An object of an Istio kind against the schema of the pinned Istio CRDs (stacks/config/trafficpolicy.py)."""
    from stacks.config.trafficpolicy import SchemaUnavailableError, kind_schema, validate

    group, _, version = obj["apiVersion"].rpartition("/")
    if not ISTIO_CONFIG_GROUP_RE.match(group):
        return []
    try:
        sch = kind_schema(group, version, obj["kind"])
    except SchemaUnavailableError as exc:
        return [f"{at}: cannot be checked: {exc}"]
    if sch is None:
        return [f"{at}.kind: {obj['apiVersion']} {obj['kind']} is not served by the pinned Istio CRDs"]
    found: list[tuple[tuple[Any, ...], str]] = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    validate(body, sch, (), found)
    return [f"{key_path(at, loc)}: {msg}" for loc, msg in found]


def _weakens_mtls(spec: Any) -> bool:
    if not isinstance(spec, dict):
        return False
    modes = [(spec.get("mtls") or {}).get("mode") if isinstance(spec.get("mtls"), dict) else None]
    levels = spec.get("portLevelMtls")
    if isinstance(levels, dict):
        modes.extend(v.get("mode") for v in levels.values() if isinstance(v, dict))
    return any(m in WEAK_MTLS for m in modes)
