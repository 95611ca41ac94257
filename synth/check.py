"""Static cross-cluster reachability check (docs/architecture.md, "Verification"), `python -m synth --check`.

For every declared (consumer cluster, service, port), for every consumer-side host of the service
(the service host, then each per-pod alias) and every producer cluster, the check follows the
SYNTHESIZED objects along the path a request takes:

1. consumer `ServiceEntry` for the host, MESH_INTERNAL, with the port;
2. its endpoint for that producer: address equal to the consumer's gateway address for the
   producer (stack output `clusters.<consumer>.gatewayAddresses.<producer>`), port 15443, label
   `security.istio.io/tlsMode: istio`, a resolution that can resolve it;
   (a producer that is the consumer itself: the endpoint is the local service on its own port);
3. the `DestinationRule` for the host (none: Istio's auto mTLS): ISTIO_MUTUAL with the SNI the
   producer's gateway routes on, `outbound_.<port>_._.<real FQDN>`;
4. the producer's `Gateway` with an AUTO_PASSTHROUGH server on 15443 whose hosts contain the real host;
5. the producer Service and port: the declared service (config) or the synthesized per-pod Service;
6. the producer's `AuthorizationPolicy` set admits every principal of the consumer on that port;
7. both clusters' `cacerts` Secrets carry the same `root-cert.pem` (ca.backend cert-manager, aws-pca: both
   clusters' Certificates writing `cacerts` are CAs, name an issuer, and name the same root).

Each path gives one line: `OK` or the first broken link, naming the object that breaks it.
`check_paths` reads a `SynthResult`; tests pass an edited copy of the objects (`objects=`) to prove
that each link is really checked.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from components.certmanager import ROOT_CA_ARN_ANNOTATION, ROOT_FINGERPRINT_ANNOTATION
from components.constants import GATEWAY_PORT, ISTIO_NAMESPACE
from stacks.config.model import MeshConfig, ServiceSpec
from synth.engine import SynthResult, unwrap
from synth.judge import result_config
from synth.render import cluster_of, is_k8s_object, object_filename, registration_cluster

TLS_MODE_LABEL = "security.istio.io/tlsMode"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
CACERTS = ("istio-system", "cacerts")
# the root fingerprint of a cert-manager Certificate
ROOT_ANNOTATION = ROOT_FINGERPRINT_ANNOTATION
ROOT_NAMESPACE = "istio-system"  # Istio's root namespace: its policies apply mesh-wide
SNI_RE = re.compile(r"^outbound_\.(\d+)_\.([^.]*)_\.(.+)$")
HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC")
# AuthorizationPolicy fields that only HTTP requests carry (a rule using one never matches TCP)
HTTP_ONLY_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
HTTP_ONLY_SOURCE = ("requestPrincipals", "notRequestPrincipals", "remoteIpBlocks", "notRemoteIpBlocks")

Objects = Mapping[str, Union[Mapping[str, Mapping[str, Any]], Iterable[Mapping[str, Any]]]]


@dataclass(frozen=True)
class PathResult:
    """One (consumer, host, port, producer) path: ok, or the first broken link."""

    consumer: str
    service: str
    host: str
    port: int
    producer: str
    ok: bool
    link: str = ""  # the object (or stack output) that breaks the path
    reason: str = ""

    @property
    def local(self) -> bool:
        return self.consumer == self.producer

    @property
    def path(self) -> str:
        via = f"{self.producer} (local)" if self.local else self.producer
        return f"{self.consumer} -> {self.host}:{self.port} -> {via}"

    def line(self) -> str:
        if self.ok:
            return f"OK    {self.path}"
        return f"FAIL  {self.path}: {self.link}: {self.reason}"


class BrokenLinkError(Exception):
    def __init__(self, link: str, reason: str):
        super().__init__(f"{link}: {reason}")
        self.link = link
        self.reason = reason


# --------------------------------------------------------------------------- inputs


def extract_objects(result: SynthResult) -> dict[str, dict[str, dict[str, Any]]]:
    """cluster -> file name -> object, like synth.render.k8s_objects but NOT redacted: the check
    compares values that sit inside secret inputs (root-cert.pem in the cacerts Secret)."""
    providers = cluster_of(result)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for reg in result.registrations:
        if is_k8s_object(reg):
            cluster = registration_cluster(reg, providers) or "_unknown"
            obj = unwrap(reg.inputs)
            out.setdefault(cluster, {})[object_filename(obj)] = obj
    return out


def _normalize(objects: Objects) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for cluster, objs in objects.items():
        items = objs.values() if isinstance(objs, Mapping) else objs
        out[cluster] = [dict(o) for o in items]
    return out


# --------------------------------------------------------------------------- object helpers


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


def describe(obj: Mapping[str, Any], cluster: str) -> str:
    ns, name = _meta(obj)
    return f"{obj.get('kind')} {ns}/{name} in {cluster}"


def _of_kind(objs: list[dict[str, Any]], kind: str, group: Optional[str] = None) -> list[dict[str, Any]]:
    found = []
    for o in objs:
        if o.get("kind") != kind:
            continue
        api = str(o.get("apiVersion", ""))
        if group is not None and api.split("/")[0] != group:
            continue
        found.append(o)
    return found


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("spec") or {})


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def _glob(pattern: str, value: str) -> bool:
    """Istio string match: exact, `*`, `prefix*` or `*suffix`."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


# --------------------------------------------------------------------------- authorization


def _source_matches(source: Mapping[str, Any], principal: str, namespace: str) -> bool:
    def any_of(key: str, value: str) -> bool:
        return any(_glob(p, value) for p in source.get(key) or [])

    if "principals" in source and not any_of("principals", principal):
        return False
    if "notPrincipals" in source and any_of("notPrincipals", principal):
        return False
    if "namespaces" in source and not any_of("namespaces", namespace):
        return False
    if "notNamespaces" in source and any_of("notNamespaces", namespace):
        return False
    # ipBlocks depend on the connection's peer address, unknown statically: a rule restricted to
    # IP blocks is not counted as admitting (conservative for ALLOW)
    return not any(k in source for k in ("ipBlocks", "notIpBlocks"))


def _operation_matches(operation: Mapping[str, Any], port: int, http: bool) -> bool:
    if not http and any(k in operation for k in HTTP_ONLY_OPERATION):
        return False
    if "ports" in operation and str(port) not in [str(p) for p in operation["ports"]]:
        return False
    return not ("notPorts" in operation and str(port) in [str(p) for p in operation["notPorts"]])


def _rule_matches(rule: Mapping[str, Any], principal: str, namespace: str, port: int, http: bool) -> bool:
    """Whether the rule matches some request of `principal` on `port` (methods/paths limit which
    HTTP requests, not whether the caller can reach the service at all)."""
    froms = rule.get("from") or []
    if froms:
        sources = [f.get("source") or {} for f in froms]
        if not http and all(any(k in s for k in HTTP_ONLY_SOURCE) for s in sources):
            return False
        if not any(_source_matches(s, principal, namespace) for s in sources):
            return False
    tos = rule.get("to") or []
    if tos and not any(_operation_matches(t.get("operation") or {}, port, http) for t in tos):
        return False
    for cond in rule.get("when") or []:
        key = str(cond.get("key", ""))
        if not http and key.startswith("request."):
            return False
    return True


def _applies(policy: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> bool:
    ns, _ = _meta(policy)
    if ns not in (namespace, ROOT_NAMESPACE):
        return False
    spec = _spec(policy)
    if spec.get("targetRef") or spec.get("targetRefs"):
        return False  # attached to a gateway/service object, not to the workload's sidecar
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def authorization_verdict(
    policies: list[dict[str, Any]],
    cluster: str,
    namespace: str,
    labels: Mapping[str, str],
    principal: str,
    port: int,
    http: bool,
) -> Optional[tuple[str, str]]:
    """None when `principal` is admitted on `port`, else (link, reason)."""
    applicable = [p for p in policies if _applies(p, namespace, labels)]
    caller_ns = principal.split("/ns/", 1)[1].split("/", 1)[0] if "/ns/" in principal else ""
    for policy in applicable:
        spec = _spec(policy)
        if spec.get("action") == "DENY":
            for rule in spec.get("rules") or []:
                if (
                    not rule.get("to")
                    and not rule.get("when")
                    and _rule_matches(rule, principal, caller_ns, port, http)
                ):
                    return describe(policy, cluster), f"DENY rule matches {principal}"
    allows = [p for p in applicable if _spec(p).get("action", "ALLOW") == "ALLOW"]
    if not allows:
        return None  # no ALLOW policy on the workload: everything authenticated is admitted
    for policy in allows:
        for rule in _spec(policy).get("rules") or []:
            if _rule_matches(rule, principal, caller_ns, port, http):
                return None
    # an ALLOW policy without rules (an allow-nothing baseline) admits nobody: the fix belongs in a
    # policy with rules, so those are named (all of them when every one is rule-less)
    named = [p for p in allows if _spec(p).get("rules")] or allows
    names = ", ".join(describe(p, cluster) for p in named)
    return names, f"no ALLOW rule admits {principal} on port {port}"


# --------------------------------------------------------------------------- the walk


class Checker:
    def __init__(self, config: MeshConfig, objects: Objects, outputs: Mapping[str, Any]):
        self.config = config
        self.objects = _normalize(objects)
        self.outputs = unwrap(copy.deepcopy(dict(outputs)))
        self.import_ns = config.mesh.import_namespace

    def objs(self, cluster: str) -> list[dict[str, Any]]:
        return self.objects.get(cluster, [])

    # -- links
    def service_entry(self, cluster: str, host: str, port: int) -> tuple[dict[str, Any], dict[str, Any]]:
        entries = [
            o
            for o in _of_kind(self.objs(cluster), "ServiceEntry", "networking.istio.io")
            if host in _spec(o).get("hosts", [])
        ]
        entries.sort(key=lambda o: _meta(o)[0] != self.import_ns)
        if not entries:
            raise BrokenLinkError(f"ServiceEntry for {host} in {cluster}", "missing (the host is not imported)")
        se = entries[0]
        spec = _spec(se)
        if spec.get("location") != "MESH_INTERNAL":
            raise BrokenLinkError(
                describe(se, cluster), f"location {spec.get('location')!r}, must be MESH_INTERNAL (mTLS to the mesh)"
            )
        se_port = next((p for p in spec.get("ports") or [] if int(p.get("number", 0)) == port), None)
        if se_port is None:
            raise BrokenLinkError(describe(se, cluster), f"has no port {port}")
        return se, se_port

    def gateway_address(self, consumer: str, producer: str) -> str:
        try:
            address = self.outputs["clusters"][consumer]["gatewayAddresses"][producer]
        except (KeyError, TypeError):
            raise BrokenLinkError(
                f"stack output clusters.{consumer}.gatewayAddresses.{producer}", "missing (no private link)"
            ) from None
        if not isinstance(address, str) or not address:
            raise BrokenLinkError(
                f"stack output clusters.{consumer}.gatewayAddresses.{producer}", f"not an address: {address!r}"
            )
        return address

    def endpoint(
        self, cluster: str, se: dict[str, Any], se_port: dict[str, Any], address: str, want_port: int, what: str
    ) -> None:
        spec = _spec(se)
        eps = [e for e in spec.get("endpoints") or [] if e.get("address") == address]
        if not eps:
            raise BrokenLinkError(describe(se, cluster), f"no endpoint with {what} {address}")
        ep = eps[0]
        name = str(se_port.get("name"))
        target = (ep.get("ports") or {}).get(name, se_port.get("targetPort", se_port.get("number")))
        if target is None or int(target) != want_port:
            raise BrokenLinkError(
                describe(se, cluster), f"endpoint {address} sends port {name} to {target}, expected {want_port}"
            )
        if (ep.get("labels") or {}).get(TLS_MODE_LABEL) != "istio":
            raise BrokenLinkError(
                describe(se, cluster),
                f"endpoint {address} lacks label {TLS_MODE_LABEL}: istio "
                "(cross-network endpoints without mTLS are dropped)",
            )
        resolution = spec.get("resolution", "NONE")
        if not _is_ip(address) and resolution not in ("DNS", "DNS_ROUND_ROBIN"):
            raise BrokenLinkError(describe(se, cluster), f"resolution {resolution} cannot resolve the name {address}")

    def tls(self, cluster: str, host: str, port: int) -> tuple[str, dict[str, Any]]:
        """(the DestinationRule description, the TLS settings that apply to `port`)."""
        rules = [
            o
            for o in _of_kind(self.objs(cluster), "DestinationRule", "networking.istio.io")
            if _spec(o).get("host") == host
        ]
        rules.sort(key=lambda o: _meta(o)[0] != self.import_ns)
        if not rules:
            # no DestinationRule: auto mTLS (endpoints labelled tlsMode istio), default SNI
            return f"no DestinationRule for {host} in {cluster}", {"mode": "ISTIO_MUTUAL"}
        dr = rules[0]
        policy = _spec(dr).get("trafficPolicy") or {}
        tls = policy.get("tls")
        for level in policy.get("portLevelSettings") or []:
            if int((level.get("port") or {}).get("number", 0)) == port:
                tls = level.get("tls")  # port-level settings replace, they do not inherit
                break
        return describe(dr, cluster), dict(tls or {"mode": "ISTIO_MUTUAL"})

    def gateway(self, producer: str, service: ServiceSpec, real: str) -> None:
        # the Gateways the istiod serving the producer reads (a remote of primary-remote: the primary's)
        producer = self.config.config_cluster(producer)
        servers: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for gw in _of_kind(self.objs(producer), "Gateway", "networking.istio.io"):
            for server in _spec(gw).get("servers") or []:
                if (
                    int((server.get("port") or {}).get("number", 0)) == GATEWAY_PORT
                    and (server.get("tls") or {}).get("mode") == "AUTO_PASSTHROUGH"
                ):
                    servers.append((gw, server))
        if not servers:
            raise BrokenLinkError(
                f"Gateway in {producer}", f"no Gateway with an AUTO_PASSTHROUGH server on port {GATEWAY_PORT}"
            )
        for gw, server in servers:
            gw_ns, _ = _meta(gw)
            for entry in server.get("hosts") or []:
                ns, _, dns = str(entry).rpartition("/")
                visible = ns in ("", "*") or ns == service.namespace or (ns == "." and gw_ns == service.namespace)
                if visible and _host_matches(dns, real):
                    return
        raise BrokenLinkError(describe(servers[0][0], producer), f"AUTO_PASSTHROUGH hosts do not include {real}")

    def producer_service(self, producer: str, service: ServiceSpec, real: str, port: int) -> dict[str, str]:
        """Check the producer side Service/port; return the labels of the receiving pods."""
        labels = dict(service.workload_selector)
        if real == service.fqdn():
            if port not in [p.port for p in service.ports]:
                raise BrokenLinkError(f"meshbridge:services {service.name}", f"declares no port {port}")
            return labels
        pod = real.split(".", 1)[0]
        svc = next(
            (
                o
                for o in _of_kind(self.objs(producer), "Service")
                if str(o.get("apiVersion")) == "v1" and _meta(o) == (service.namespace, pod)
            ),
            None,
        )
        if svc is None:
            raise BrokenLinkError(
                f"Service {service.namespace}/{pod} in {producer}", "missing (the per-pod host is unknown there)"
            )
        spec = _spec(svc)
        svc_ports = {int(p.get("port", 0)): p for p in spec.get("ports") or []}
        if port not in svc_ports:
            raise BrokenLinkError(describe(svc, producer), f"has no port {port}")
        target = next((p.target for p in service.ports if p.port == port), port)
        if int(svc_ports[port].get("targetPort", port)) != target:
            raise BrokenLinkError(
                describe(svc, producer),
                f"sends port {port} to targetPort {svc_ports[port].get('targetPort')}, the pods listen on {target}",
            )
        if (spec.get("selector") or {}).get(POD_NAME_LABEL) != pod:
            raise BrokenLinkError(describe(svc, producer), f"does not select pod {pod} ({POD_NAME_LABEL})")
        labels[POD_NAME_LABEL] = pod
        return labels

    def local_twin(self, cluster: str, service: ServiceSpec, port: int) -> str:
        """The local endpoint of a failover host: the headless twin Service (one Envoy host per pod,
        so outlier detection ejects single pods); returns its FQDN."""
        name = service.local_twin
        svc = next(
            (
                o
                for o in _of_kind(self.objs(cluster), "Service")
                if str(o.get("apiVersion")) == "v1" and _meta(o) == (service.namespace, name)
            ),
            None,
        )
        if svc is None:
            raise BrokenLinkError(
                f"Service {service.namespace}/{name} in {cluster}",
                "missing (the local endpoint has no pods to resolve)",
            )
        spec = _spec(svc)
        if spec.get("clusterIP") != "None":
            raise BrokenLinkError(
                describe(svc, cluster),
                "is not headless (clusterIP: None): one address for all pods, outlier detection would eject them all",
            )
        if dict(spec.get("selector") or {}) != service.workload_selector:
            raise BrokenLinkError(describe(svc, cluster), f"does not select the workload {service.workload_selector}")
        target = next((p.target for p in service.ports if p.port == port), port)
        ports = {int(p.get("port", 0)): p for p in spec.get("ports") or []}
        if port not in ports or int(ports[port].get("targetPort", port)) != target:
            raise BrokenLinkError(describe(svc, cluster), f"has no port {port} -> targetPort {target}")
        return f"{name}.{service.namespace}.svc.cluster.local"

    def authorization(
        self, producer: str, service: ServiceSpec, labels: dict[str, str], principals: list[str], port: int, http: bool
    ) -> None:
        # the policies the istiod serving the producer reads (a remote of primary-remote: the primary's)
        producer = self.config.config_cluster(producer)
        policies = _of_kind(self.objs(producer), "AuthorizationPolicy", "security.istio.io")
        for p in principals:
            verdict = authorization_verdict(policies, producer, service.namespace, labels, p, port, http)
            if verdict is not None:
                raise BrokenLinkError(*verdict)

    def root(self, cluster: str) -> str:
        """The root `cacerts` trusts in `cluster`: the `root-cert.pem` of the Secret, or (ca.backend
        cert-manager) the root fingerprint of the Certificate that writes the Secret."""
        secret = next(
            (o for o in _of_kind(self.objs(cluster), "Secret") if _meta(o) == CACERTS),
            None,
        )
        link = f"Secret {CACERTS[0]}/{CACERTS[1]} in {cluster}"
        if secret is None:
            certificate = next(
                (
                    o
                    for o in _of_kind(self.objs(cluster), "Certificate", "cert-manager.io")
                    if _meta(o)[0] == CACERTS[0] and _spec(o).get("secretName") == CACERTS[1]
                ),
                None,
            )
            if certificate is None:
                raise BrokenLinkError(link, "missing (no cert-manager Certificate writes it either)")
            return self.issued_root(cluster, certificate)
        value = (secret.get("stringData") or {}).get("root-cert.pem")
        if value is None and "root-cert.pem" in (secret.get("data") or {}):
            try:
                value = base64.b64decode(secret["data"]["root-cert.pem"]).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise BrokenLinkError(link, "data root-cert.pem is not base64 text") from None
        if not isinstance(value, str) or not value.strip():
            raise BrokenLinkError(link, "has no readable root-cert.pem")
        return value.strip()

    def issued_root(self, cluster: str, certificate: Mapping[str, Any]) -> str:
        """A cert-manager Certificate that writes `cacerts`: a CA, signed by an issuer, the root named."""
        link = describe(certificate, cluster)
        spec = _spec(certificate)
        if spec.get("isCA") is not True:
            raise BrokenLinkError(link, "is not isCA: istiod cannot sign workload certificates with it")
        ref = spec.get("issuerRef") or {}
        if not ref.get("name"):
            raise BrokenLinkError(link, "names no issuer (spec.issuerRef.name)")
        if ref.get("kind", "Issuer") == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io":
            issuers = _of_kind(self.objs(cluster), "Issuer", "cert-manager.io")
            rendered = {_meta(o) for o in issuers}
            if issuers and (CACERTS[0], ref["name"]) not in rendered:
                raise BrokenLinkError(link, f"names Issuer {ref['name']}, which is not in {CACERTS[0]}")
        annotations = (certificate.get("metadata") or {}).get("annotations") or {}
        root = annotations.get(ROOT_ANNOTATION)
        if root:
            return f"sha256:{root}"
        if annotations.get(ROOT_CA_ARN_ANNOTATION):  # aws-pca: the root CA meshbridge creates
            return f"AWS Private CA {annotations[ROOT_CA_ARN_ANNOTATION]}"
        raise BrokenLinkError(link, f"names no root ({ROOT_ANNOTATION} or {ROOT_CA_ARN_ANNOTATION})")

    # -- one path
    def remote_secret(self, consumer: str, producer: str) -> None:
        """The istiod serving `consumer` (its own; primary-remote: the primary's) reads `producer`'s
        API server: it holds `istio-remote-secret-<producer>` keyed by the producer's name."""
        mesh = self.config.mesh
        holder = str(mesh.primary_cluster) if mesh.model == "primary-remote" else consumer
        if holder == producer:
            return
        name = f"istio-remote-secret-{producer}"
        found = [o for o in _of_kind(self.objs(holder), "Secret") if _meta(o) == (ISTIO_NAMESPACE, name)]
        if not found:
            raise BrokenLinkError(f"Secret {ISTIO_NAMESPACE}/{name} in {holder}", "missing (no endpoint discovery)")
        meta = found[0].get("metadata") or {}
        if (meta.get("labels") or {}).get("istio/multiCluster") != "true":
            raise BrokenLinkError(describe(found[0], holder), 'lacks the label istio/multiCluster: "true"')
        if producer not in (found[0].get("stringData") or found[0].get("data") or {}):
            raise BrokenLinkError(describe(found[0], holder), f"has no key {producer!r} (the cluster name)")

    def walk(self, consumer: str, s: ServiceSpec, host: str, real: str, port: int, producer: str) -> None:
        spec_port = next(p for p in s.ports if p.port == port)
        http = spec_port.protocol in HTTP_PROTOCOLS
        cons = next(c for c in s.consumers if c.cluster == consumer)
        principals = [
            f"{self.config.mesh.trust_domain}/ns/{p.split('/')[0]}/sa/{p.split('/')[1]}" for p in cons.principals
        ]

        local = producer == consumer
        if s.import_mode == "discovery":
            # no import: the istiod that serves the consumer discovers the producer's endpoints
            if not local:
                self.remote_secret(consumer, producer)
                self.gateway(producer, s, real)
            labels = self.producer_service(producer, s, real, port)
            self.authorization(producer, s, labels, principals, port, http)
            return
        se, se_port = self.service_entry(consumer, host, port)
        if not local and consumer in s.exported_from and host == s.fqdn():
            # Istio keeps a Kubernetes Service over a ServiceEntry of the same host (sidecar scope:
            # "domain squatting" protection), so the import and its remote endpoints are ignored
            raise BrokenLinkError(
                describe(se, consumer),
                f"shadowed by {consumer}'s own Kubernetes Service {host} (Istio prefers it over a ServiceEntry of "
                f"the same host), so {producer} is never used: give the service an alias",
            )
        if local:
            twin = self.local_twin(consumer, s, port)
            self.endpoint(consumer, se, se_port, twin, spec_port.target, "the local headless twin address")
        else:
            address = self.gateway_address(consumer, producer)
            self.endpoint(consumer, se, se_port, address, GATEWAY_PORT, f"the gateway address of {producer}")
        dr, tls = self.tls(consumer, host, port)
        if tls.get("mode") != "ISTIO_MUTUAL":
            raise BrokenLinkError(dr, f"tls mode {tls.get('mode')!r} for port {port}, must be ISTIO_MUTUAL")
        if not local:
            sent = str(tls.get("sni") or f"outbound_.{port}_._.{host}")
            expected = f"outbound_.{port}_._.{real}"
            m = SNI_RE.match(sent)
            if m is None or m.group(3) != real or int(m.group(1)) != port:
                why = " (an alias needs the SNI of the real host)" if host != real and not tls.get("sni") else ""
                raise BrokenLinkError(dr, f"SNI {sent} for port {port}, the producer gateway routes {expected}{why}")
            self.gateway(producer, s, real)
        labels = self.producer_service(producer, s, real, port)
        self.authorization(producer, s, labels, principals, port, http)
        if not local:
            mine, theirs = self.root(consumer), self.root(producer)
            if mine != theirs:
                raise BrokenLinkError(
                    f"Secret {CACERTS[0]}/{CACERTS[1]} in {producer}",
                    f"root-cert.pem differs from {consumer}'s (mTLS between them cannot be verified)",
                )

    def run(self) -> list[PathResult]:
        results: list[PathResult] = []
        for s in self.config.services:
            hosts = s.imported_hosts()
            for cons in s.consumers:
                producers = [p for p in s.exported_from if p != cons.cluster]
                if cons.cluster in s.exported_from:
                    producers.append(cons.cluster)
                for host, real in hosts:
                    for port in s.ports:
                        for producer in producers:
                            try:
                                self.walk(cons.cluster, s, host, real, port.port, producer)
                            except BrokenLinkError as broken:
                                ok, link, reason = False, broken.link, broken.reason
                            else:
                                ok, link, reason = True, "", ""
                            results.append(
                                PathResult(cons.cluster, s.name, host, port.port, producer, ok, link, reason)
                            )
        return results


def check_objects(config: MeshConfig, objects: Objects, outputs: Mapping[str, Any]) -> list[PathResult]:
    """The check on a given object set: cluster -> {file: object} (or a list of objects)."""
    return Checker(config, objects, outputs).run()


def check_paths(
    result: SynthResult,
    objects: Optional[Objects] = None,
    outputs: Optional[Mapping[str, Any]] = None,
    config: Optional[MeshConfig] = None,
) -> list[PathResult]:
    """The check on a synth result; `objects`/`outputs`/`config` replace the result's own."""
    return check_objects(
        config if config is not None else result_config(result),
        objects if objects is not None else extract_objects(result),
        outputs if outputs is not None else result.outputs,
    )


def format_report(results: list[PathResult]) -> str:
    broken = sum(1 for r in results if not r.ok)
    lines = [r.line() for r in results]
    lines.append(f"reachability: {len(results)} paths, {broken} broken")
    return "\n".join(lines) + "\n"
