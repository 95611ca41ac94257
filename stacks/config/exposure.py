"""What a distributed object may not be or touch (docs/configuration.md, "Exposure" and "Ownership").

Pure functions of one Kubernetes object (a mapping as given in `meshbridge:distribute`), used by the
fail-closed checks (stacks/config/strict.py) and, for internet-facing Services, by the policy pack
(policy/rules.py keeps its own copy of the annotation test: the pack imports nothing of the project).

- exposure: a Service of type LoadBalancer must say that its load balancer is internal (the AWS
  annotations; in AWS modes without one, the in-tree cloud provider makes an internet-facing one), and
  an Ingress may not ask for an internet-facing ALB;
- meshbridge's gateways: no object selects the pods of the east-west gateway or istiod (a Service
  that sends traffic to 15443/15012, a NetworkPolicy, an Istio policy or Gateway bound to them), and
  no Istio policy in the root namespace without a selector (it applies to every proxy, the gateways
  included);
- privileged objects: bindings to cluster-admin, admission webhooks and objects in kube-system need
  an explicit acknowledgement in their `distribute` entry (`acknowledge`), and synth lists them.
"""

from __future__ import annotations

from typing import Any, Optional

from components.constants import EASTWEST_RELEASE, ISTIO_NAMESPACE, NETWORK_LABEL
from stacks.config.problems import show

LB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
LB_INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
ALB_SCHEME = "alb.ingress.kubernetes.io/scheme"

# labels of the pods meshbridge runs in istio-system (the gateway chart's values in components/istio.py,
# istiod's chart): a selector that is a subset of these (the network label with any value) or that
# names one of the identifying pairs selects them
GATEWAY_POD_LABELS: dict[str, dict[str, str]] = {
    "the east-west gateway": {
        "app": EASTWEST_RELEASE,
        "istio": "eastwestgateway",
        "service.istio.io/canonical-name": EASTWEST_RELEASE,
        "sidecar.istio.io/inject": "false",
    },
    "istiod": {"app": "istiod", "istio": "pilot", "service.istio.io/canonical-name": "istiod"},
}
IDENTIFYING = {("app", EASTWEST_RELEASE), ("istio", "eastwestgateway"), ("app", "istiod"), ("istio", "pilot")}
# Istio kinds that apply to the proxies their selector (or, without one, their namespace) picks; in the
# root namespace without a selector: every proxy of the mesh
WORKLOAD_POLICY_KINDS = (
    "AuthorizationPolicy",
    "RequestAuthentication",
    "PeerAuthentication",
    "EnvoyFilter",
    "WasmPlugin",
)

# what an acknowledgement names, per class of privileged object (distribute[].acknowledge)
ACKNOWLEDGEMENTS = ("clusterAdmin", "webhooks", "kubeSystem")


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return ann if isinstance(ann, dict) else {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def declares_internet_facing(obj: dict[str, Any]) -> bool:
    """A Service or Ingress whose annotations ask for an internet-facing load balancer."""
    ann = _annotations(obj)
    return (
        str(ann.get(LB_SCHEME, "")).lower() == "internet-facing"
        or str(ann.get(LB_INTERNAL, "")).lower() == "false"
        or str(ann.get(ALB_SCHEME, "")).lower() == "internet-facing"
    )


def exposure_problem(obj: dict[str, Any], aws: bool) -> Optional[tuple[str, str]]:
    """(field path, why) when the object is, or may become, an internet-facing load balancer."""
    kind = obj.get("kind")
    if kind not in ("Service", "Ingress"):
        return None
    if declares_internet_facing(obj):
        return (
            "metadata.annotations",
            f"asks for an internet-facing load balancer: nothing meshbridge deploys is reachable from the "
            f"internet (use {LB_SCHEME}: internal)",
        )
    if kind == "Service" and _spec(obj).get("type") == "LoadBalancer" and aws:
        ann = _annotations(obj)
        if str(ann.get(LB_SCHEME, "")).lower() != "internal" and str(ann.get(LB_INTERNAL, "")).lower() != "true":
            return (
                "spec.type",
                f"a LoadBalancer Service without {LB_SCHEME}: internal gets an internet-facing load balancer "
                "from Kubernetes' AWS cloud provider: add the annotation (meshbridge deploys nothing "
                "internet-facing)",
            )
    return None


def _selector_labels(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field path, labels) of every pod selector of the object that we know how to read."""
    spec = _spec(obj)
    kind = obj.get("kind")
    found: list[tuple[str, dict[str, Any]]] = []
    sel = spec.get("selector")
    if isinstance(sel, dict):
        match = sel.get("matchLabels")
        if isinstance(match, dict):
            found.append(("spec.selector.matchLabels", match))
        elif kind in ("Service", "Gateway", "ReplicationController") and "matchExpressions" not in sel:
            found.append(("spec.selector", sel))
    for field in ("podSelector", "workloadSelector"):
        value = spec.get(field)
        if isinstance(value, dict):
            labels = value.get("matchLabels", value.get("labels"))
            if isinstance(labels, dict):
                found.append((f"spec.{field}", labels))
    return found


def _selects_every_pod(obj: dict[str, Any]) -> Optional[str]:
    """The field path when a NetworkPolicy's podSelector selects every pod of its namespace (`{}`), or
    cannot be checked (matchExpressions)."""
    if obj.get("kind") != "NetworkPolicy":
        return None
    selector = _spec(obj).get("podSelector")
    if not isinstance(selector, dict) or selector.get("matchExpressions") or not selector.get("matchLabels"):
        return "spec.podSelector"
    return None


def _selects(labels: dict[str, Any]) -> Optional[str]:
    """Which of meshbridge's gateway pods a label selector picks."""
    if not labels:
        return None
    for what, pod in GATEWAY_POD_LABELS.items():
        subset = all((k == NETWORK_LABEL) or pod.get(str(k)) == v for k, v in labels.items())
        if subset or any((str(k), v) in IDENTIFYING and pod.get(str(k)) == v for k, v in labels.items()):
            return what
    return None


def gateway_selection_problem(obj: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(field path, why) when the object selects (or applies to) the east-west gateway's or istiod's pods."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = (meta or {}).get("namespace")
    kind = obj.get("kind")
    istio = "istio.io/" in str(obj.get("apiVersion", ""))
    # a Gateway's selector picks pods of every namespace; other selectors, pods of their own namespace
    # (an Istio policy in the root namespace: of every namespace)
    if namespace == ISTIO_NAMESPACE and _selects_every_pod(obj):
        return (
            "spec.podSelector",
            "selects every pod of istio-system (or cannot be checked: matchExpressions), the east-west gateway "
            "and istiod included: select your own pods by matchLabels",
        )
    if namespace == ISTIO_NAMESPACE or (istio and kind == "Gateway"):
        for where, labels in _selector_labels(obj):
            what = _selects(labels)
            if what:
                return (
                    where,
                    f"selects the pods of {what}, which meshbridge runs (its ports, routing and authorization "
                    "are meshbridge's: an object bound to them could expose or redirect the mesh's traffic)",
                )
    spec = _spec(obj)
    refs: list[Any] = spec["targetRefs"] if isinstance(spec.get("targetRefs"), list) else [spec.get("targetRef")]
    for k, ref in enumerate(refs):
        if isinstance(ref, dict) and ref.get("name") in (EASTWEST_RELEASE, "istiod") and namespace == ISTIO_NAMESPACE:
            where = f"spec.targetRefs[{k}]" if "targetRefs" in spec else "spec.targetRef"
            return where, f"targets meshbridge's {ref.get('name')}"
    if (
        istio
        and namespace == ISTIO_NAMESPACE
        and kind in WORKLOAD_POLICY_KINDS
        and not _selector_labels(obj)
        and not spec.get("targetRef")
        and not spec.get("targetRefs")
    ):
        return (
            "spec",
            f"a {kind} in the root namespace {ISTIO_NAMESPACE} without a selector applies to every proxy of "
            "the mesh, the east-west gateway and istiod included: give it a selector (or put it in the "
            "namespace of the workloads it is for)",
        )
    return None


def privileged_class(obj: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(acknowledgement, what it is) for an object that needs an explicit acknowledgement."""
    kind = obj.get("kind")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and ref.get("kind") == "ClusterRole" and ref.get("name") == "cluster-admin":
            return "clusterAdmin", f"a {kind} to cluster-admin"
    if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy"):
        return "webhooks", f"a {kind} (it sees or changes objects of every namespace)"
    if (meta or {}).get("namespace") == "kube-system":
        return "kubeSystem", f"a {kind} in kube-system"
    return None


# ------------------------------------------------------------- hosts meshbridge imports or exports

SVC_SUFFIX = ".svc.cluster.local"


def host_matches(pattern: Any, host: str, namespace: str) -> bool:
    """Whether an Istio host field (`*`, `*.suffix`, a short name resolved in the object's namespace,
    or an FQDN; `ns/host` in Sidecar and Gateway hosts) covers `host`."""
    if not isinstance(pattern, str):
        return False
    pattern = pattern.split("/", 1)[-1]
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    if "." not in pattern:
        pattern = f"{pattern}.{namespace}{SVC_SUFFIX}"
    return pattern == host


def _matched(pattern: Any, hosts: dict[str, str], namespace: str) -> Optional[str]:
    """The first of `hosts` the pattern covers (a dictionary look-up unless it is a wildcard)."""
    if not isinstance(pattern, str):
        return None
    bare = pattern.split("/", 1)[-1]
    if "*" not in bare:
        full = bare if "." in bare else f"{bare}.{namespace}{SVC_SUFFIX}"
        return full if full in hosts else None
    return next((h for h in hosts if host_matches(pattern, h, namespace)), None)


def mesh_host_problems(
    obj: dict[str, Any], hosts: dict[str, str], ports: Optional[dict[str, frozenset[int]]] = None
) -> list[tuple[str, str]]:
    """(field path, why) where a distributed Istio ServiceEntry, DestinationRule or VirtualService
    changes a host meshbridge imports or exports in the cluster (`hosts`: host -> what it is;
    `ports`: host -> the ports the service declares, which a route to it must name)."""
    if "istio.io/" not in str(obj.get("apiVersion", "")) or not hosts:
        return []
    kind, spec = obj.get("kind"), _spec(obj)
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = str((meta or {}).get("namespace") or "default")
    found: list[tuple[str, str]] = []
    if kind == "ServiceEntry":
        entries: list[Any] = spec["hosts"] if isinstance(spec.get("hosts"), list) else []
        for k, pattern in enumerate(entries):
            host = _matched(pattern, hosts, namespace)
            if host:
                found.append(
                    (
                        f"spec.hosts[{k}]",
                        f"covers {host}, {hosts[host]}: a second ServiceEntry for it would hijack or hide "
                        "meshbridge's endpoints, identities (SANs) and mTLS",
                    )
                )
    elif kind == "DestinationRule":
        host = _matched(spec.get("host"), hosts, namespace)
        # an exported host (the producer's own Service) may have a DestinationRule for its local callers
        # (subsets, pools), but none that changes its TLS; an imported host's is meshbridge's
        exported_only = host is not None and hosts[host].endswith(EXPORTS)
        if host and exported_only:
            found.extend(
                (
                    where,
                    f"sets the TLS of {host}, {hosts[host]}: the mesh's mTLS (STRICT, ISTIO_MUTUAL) is meshbridge's",
                )
                for where in _tls_settings(spec)
            )
        elif host:
            found.append(
                (
                    "spec.host",
                    f"covers {host}, {hosts[host]}: meshbridge sets its TLS (ISTIO_MUTUAL with the SNI the "
                    "producer's gateway routes on) and traffic policy (services[].trafficPolicy)",
                )
            )
    elif kind == "VirtualService":
        vs_hosts: list[Any] = spec["hosts"] if isinstance(spec.get("hosts"), list) else []
        own = {h for h in (_matched(p, hosts, namespace) for p in vs_hosts) if h}
        routed = sorted(h for h in own if hosts[h].endswith(ROUTED))
        if routed:
            found.append(
                (
                    "spec.hosts",
                    f"covers {routed[0]}, whose routes are services[].routing (meshbridge's VirtualService "
                    f"{routed[0]}): a sidecar uses one VirtualService per host and ignores the other (istioctl analyze "
                    "IST0109); "
                    "put the timeouts, retries and matches in services[].routing",
                )
            )
        elif own:
            found.extend(_routes_elsewhere(spec, own, hosts, namespace, ports or {}))
    return found


# how `hosts` values of `mesh_host_problems` end for a host a service exports from the cluster,
# and for an imported host whose VirtualService meshbridge renders (services[].routing)
EXPORTS = " exports"
ROUTED = " and routes (services[].routing)"


def _tls_settings(spec: dict[str, Any]) -> list[str]:
    """Field paths of the `tls` settings of a DestinationRule other than ISTIO_MUTUAL (policy, ports, subsets)."""
    found: list[str] = []
    policies: list[tuple[str, Any]] = [("spec.trafficPolicy", spec.get("trafficPolicy"))]
    subsets = spec.get("subsets")
    for k, subset in enumerate(subsets if isinstance(subsets, list) else []):
        if isinstance(subset, dict):
            policies.append((f"spec.subsets[{k}].trafficPolicy", subset.get("trafficPolicy")))
    for at, policy in policies:
        if not isinstance(policy, dict):
            continue
        levels: list[tuple[str, Any]] = [(at, policy)]
        ports = policy.get("portLevelSettings")
        levels += [(f"{at}.portLevelSettings[{j}]", e) for j, e in enumerate(ports if isinstance(ports, list) else [])]
        for where, level in levels:
            tls = level.get("tls") if isinstance(level, dict) else None
            if isinstance(tls, dict) and tls.get("mode") != "ISTIO_MUTUAL":
                found.append(f"{where}.tls")
    return found


def _routes_elsewhere(
    spec: dict[str, Any], own: set[str], hosts: dict[str, str], namespace: str, ports: dict[str, frozenset[int]]
) -> list[tuple[str, str]]:
    """A VirtualService of a meshbridge host may set timeouts, retries and the like, never send the
    host's traffic anywhere else (redirect, rewrite of the authority, another destination, a mirror),
    nor to a port the service does not declare (pilot then routes to a cluster that does not exist)."""
    found: list[tuple[str, str]] = []
    named = ", ".join(sorted(own))
    why = f"the VirtualService covers {named}, which meshbridge imports or exports: its traffic may not be "
    for section in ("http", "tls", "tcp"):
        routes = spec.get(section)
        for k, route in enumerate(routes if isinstance(routes, list) else []):
            if not isinstance(route, dict):
                continue
            at = f"spec.{section}[{k}]"
            for field in ("redirect", "directResponse", "delegate", "mirror", "mirrors"):
                if field in route:
                    found.append((f"{at}.{field}", why + "redirected, answered elsewhere, delegated or mirrored"))
            rewrite = route.get("rewrite")
            if isinstance(rewrite, dict) and "authority" in rewrite:
                found.append((f"{at}.rewrite.authority", why + "sent to another host"))
            dests: list[Any] = route["route"] if isinstance(route.get("route"), list) else []
            for m, dest in enumerate(dests):
                target = (dest.get("destination") or {}).get("host") if isinstance(dest, dict) else None
                if not any(host_matches(target, h, namespace) and "*" not in str(target) for h in own):
                    found.append((f"{at}.route[{m}].destination.host", why + f"sent to {target!r}"))
                    continue
                port = ((dest.get("destination") or {}).get("port") or {}).get("number")
                declared = next((ports[h] for h in own if host_matches(target, h, namespace) and h in ports), None)
                if port is not None and declared is not None and port not in declared:
                    found.append(
                        (
                            f"{at}.route[{m}].destination.port.number",
                            f"{show(port)} is not a port of {target} (its service declares "
                            f"{', '.join(str(x) for x in sorted(declared))}): the route would lead nowhere",
                        )
                    )
    return found


def policy_scope_problem(
    obj: dict[str, Any], exported: list[tuple[str, dict[str, str], str]]
) -> Optional[tuple[str, str]]:
    """(field path, why) when a distributed AuthorizationPolicy that admits (ALLOW, CUSTOM) or an
    EnvoyFilter (which can remove the RBAC filter) may apply to the workload of a service meshbridge
    exports from the cluster (`exported`: namespace, workload labels, service key). A policy in the
    root namespace applies in every namespace; a selector that names a label of the workload with
    another value does not select it."""
    kind = obj.get("kind")
    if "istio.io/" not in str(obj.get("apiVersion", "")) or kind not in ("AuthorizationPolicy", "EnvoyFilter"):
        return None
    spec = _spec(obj)
    if kind == "AuthorizationPolicy" and spec.get("action") in ("DENY", "AUDIT"):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = (meta or {}).get("namespace") or "default"
    selectors = _selector_labels(obj)
    labels = selectors[0][1] if selectors else {}
    for ns, workload, key in exported:
        if namespace not in (ns, ISTIO_NAMESPACE):
            continue
        if any(str(k) in workload and workload[str(k)] != v for k, v in labels.items()):
            continue
        what = "admits callers on" if kind == "AuthorizationPolicy" else "can change the filters (RBAC included) of"
        return (
            selectors[0][0] if selectors else "metadata.namespace",
            f"{what} the workload of {key}, which meshbridge exports: its authorization is the declared "
            "consumers and localCallers only (services[]); declare callers there",
        )
    return None


def _egress_covers(entry: Any, host: str, import_ns: str, own_ns: str) -> bool:
    """Whether a Sidecar egress host `namespace/dnsName` makes `host` (imported into `import_ns`) visible."""
    if not isinstance(entry, str) or "/" not in entry:
        return False
    ns, _, dns = entry.partition("/")
    if not (ns == "*" or ns == import_ns or (ns == "." and own_ns == import_ns)):
        return False
    return host_matches(dns, host, import_ns)


def sidecar_hides_problem(
    obj: dict[str, Any], imports: list[tuple[str, set[str]]], import_ns: str
) -> Optional[tuple[str, str]]:
    """(field path, why) when a distributed Sidecar hides an imported host from the namespaces whose
    workloads call it (`imports`: host, namespaces of its consumer principals): its egress hosts must
    keep `<importNamespace>/<host>` (or a wildcard covering it) visible, or the calls leave as
    plaintext to PassthroughCluster."""
    if obj.get("kind") != "Sidecar" or "istio.io/" not in str(obj.get("apiVersion", "")):
        return None
    spec = _spec(obj)
    egress = spec.get("egress")
    if not isinstance(egress, list) or not egress:
        return None  # no egress: Istio's default, everything visible
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    own = str((meta or {}).get("namespace") or "default")
    everywhere = own == ISTIO_NAMESPACE and not _selector_labels(obj)
    entries = [h for listener in egress if isinstance(listener, dict) for h in (listener.get("hosts") or [])]
    for host, callers in imports:
        if not (everywhere or own in callers):
            continue
        if not any(_egress_covers(e, host, import_ns, own) for e in entries):
            return (
                "spec.egress",
                f"hides {host}, which meshbridge imports into {import_ns} for callers in "
                f"{', '.join(sorted(callers))}: add '{import_ns}/{host}' (or '*/*') to the egress hosts",
            )
    return None
