"""The mesh's invariants as plain functions (the CrossGuard pack in __main__.py wraps them).

Each rule sees resources the way a policy pack does: type token, name, URN, camelCase input
properties and the `protect` option. Resource rules return the violations of one resource; stack
rules see every resource of the stack at once. Tests call these functions directly, with single
resources and with everything synth registers for each stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
MIN_RSA_BITS = 2048
ALLOWED_CURVES = ("P256", "P384", "P521")
LB = "aws:lb/loadBalancer:LoadBalancer"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ENDPOINT_SERVICE = "aws:ec2/vpcEndpointService:VpcEndpointService"
ENDPOINT_SERVICE_PRINCIPAL = "aws:ec2/vpcEndpointServiceAllowedPrinciple:VpcEndpointServiceAllowedPrinciple"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
ROOT_CA = "meshbridge:pki:RootCa"
PCA_AUTHORITY = "aws:acmpca/certificateAuthority:CertificateAuthority"
# AWS Private CA key algorithms at least as strong as RSA 2048 / ECDSA P256
PCA_STRONG_KEYS = ("RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1")
IAM_ROLE = "aws:iam/role:Role"


@dataclass(frozen=True)
class Res:
    """A resource as a policy sees it."""

    type: str
    name: str
    urn: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    provider: str = ""

    @property
    def stack(self) -> str:
        parts = self.urn.split("::")
        return parts[0].removeprefix("urn:pulumi:") if parts and parts[0].startswith("urn:pulumi:") else ""

    @property
    def kind(self) -> str:
        return str(self.props.get("kind", "")) if self.type.startswith("kubernetes:") else ""


def is_production(stack: str) -> bool:
    """Stacks named `production` or starting with `prod` are production."""
    return stack == "production" or stack.startswith("prod")


def lb_internal(r: Res) -> list[str]:
    if r.type == LB and r.props.get("internal") is not True:
        return [f"load balancer {r.name} must be internal (internal: true); nothing of the mesh is internet-facing"]
    return []


def _open(cidrs: Any) -> list[str]:
    values = cidrs if isinstance(cidrs, list) else [cidrs]
    return [c for c in values if c in OPEN_CIDRS]


def no_open_ingress(r: Res) -> list[str]:
    found: list[str] = []
    if r.type == SG:
        for rule in r.props.get("ingress") or []:
            found += _open(rule.get("cidrBlocks") or []) + _open(rule.get("ipv6CidrBlocks") or [])
    elif r.type == SG_RULE and r.props.get("type") == "ingress":
        found += _open(r.props.get("cidrBlocks") or []) + _open(r.props.get("ipv6CidrBlocks") or [])
    elif r.type == SG_INGRESS:
        found += _open(r.props.get("cidrIpv4")) + _open(r.props.get("cidrIpv6"))
    return [f"security group rule of {r.name} admits {c}; admit the peer VPC CIDRs only" for c in found]


def endpoint_service_not_public(r: Res) -> list[str]:
    if r.type == ENDPOINT_SERVICE and "*" in (r.props.get("allowedPrincipals") or []):
        return [f"endpoint service {r.name} allows principal '*'; list the consumer roles or account roots"]
    if r.type == ENDPOINT_SERVICE_PRINCIPAL and r.props.get("principalArn") == "*":
        return [f"endpoint service principal {r.name} is '*'; list the consumer roles or account roots"]
    return []


# annotations that ask for an internet-facing load balancer (Kubernetes' AWS cloud provider and the AWS
# Load Balancer Controller; the same list as stacks/config/exposure.py, which the pack does not import)
INTERNET_FACING = (
    ("service.beta.kubernetes.io/aws-load-balancer-scheme", "internet-facing"),
    ("service.beta.kubernetes.io/aws-load-balancer-internal", "false"),
    ("alb.ingress.kubernetes.io/scheme", "internet-facing"),
)


def _internet_facing(r: Res) -> list[tuple[str, str]]:
    """The annotations by which a Service or Ingress asks for an internet-facing load balancer."""
    if r.kind not in ("Service", "Ingress"):
        return []
    meta = r.props.get("metadata") or {}
    annotations = meta.get("annotations") or {} if isinstance(meta, dict) else {}
    if not isinstance(annotations, dict):
        return []
    return [(key, value) for key, value in INTERNET_FACING if str(annotations.get(key, "")).lower() == value]


def _is_ingress_gateway(r: Res) -> bool:
    """The ingress gateway's Service that meshbridge installs where a cluster asks for one
    (`clusters[].ingressGateway`: components/istio.py), the only one that may be internet-facing."""
    meta = r.props.get("metadata") or {}
    return (
        r.kind == "Service"
        and isinstance(meta, dict)
        and (meta.get("name"), meta.get("namespace")) == (INGRESS_SERVICE, ROOT_NAMESPACE)
    )


def services_not_internet_facing(r: Res) -> list[str]:
    """No Service or Ingress asks for an internet-facing load balancer, but the ingress gateway's
    where the stack asks for it (flagged by `ingress-gateway-internet-facing`)."""
    if _is_ingress_gateway(r):
        return []
    return [
        f"{r.kind} {r.name} asks for an internet-facing load balancer ({key}: {value}); nothing of the mesh is "
        "internet-facing"
        for key, value in _internet_facing(r)
    ]


def ingress_gateway_internet_facing(r: Res) -> list[str]:
    """Advisory: an ingress gateway asked to be internet-facing (`ingressGateway.scheme`)."""
    if not _is_ingress_gateway(r):
        return []
    return [
        f"{r.name}: the ingress gateway is internet-facing ({key}: {value}), as clusters[].ingressGateway.scheme "
        "asks: every Gateway that selects it is reachable from the internet"
        for key, value in _internet_facing(r)
    ]


def gateway_hosts_not_wildcard(r: Res) -> list[str]:
    if r.kind != "Gateway":
        return []
    out = []
    for server in (r.props.get("spec") or {}).get("servers") or []:
        for host in server.get("hosts") or []:
            bare = host.split("/", 1)[-1]
            if bare == "*" or bare.startswith("*."):
                out.append(f"Gateway {r.name} exposes host {host!r}; list the exported hosts explicitly")
    return out


ROOT_NAMESPACE = "istio-system"  # Istio's root namespace (meshConfig.rootNamespace, istiod's namespace)
INGRESS_SERVICE = "istio-ingressgateway"  # the ingress gateway chart's Service (components/constants.py)
ALL_NAMESPACES = "*/*"


def root_sidecar_problems(obj: Any) -> list[tuple[str, str]]:
    """(field path, why) when `obj` is a Sidecar in the root namespace, without workloadSelector,
    whose catch-all egress listener does not keep `*/*`.

    Such a Sidecar is the default of every namespace. An egress host list without `*/*` drops the
    Services of the other namespaces from every proxy; calls to them go to PassthroughCluster in
    plaintext and the STRICT server sidecar resets them (istio/istio#41978). Used by the config
    check (stacks/config/checks.py, meshbridge:distribute) and by the policy pack.
    """
    if not isinstance(obj, dict) or obj.get("kind") != "Sidecar":
        return []
    if not str(obj.get("apiVersion", "")).startswith("networking.istio.io/"):
        return []
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict) or meta.get("namespace") != ROOT_NAMESPACE:
        return []
    if (spec.get("workloadSelector") or {}).get("labels"):
        return []
    egress = spec.get("egress") or []
    if not isinstance(egress, list) or not egress:
        return []  # no egress: Istio's default, every namespace stays visible
    why = (
        f"a Sidecar in the root namespace {ROOT_NAMESPACE} without workloadSelector is the default of every "
        f"namespace; without {ALL_NAMESPACES!r} in its egress hosts the proxies drop the Services of other "
        "namespaces and send those calls in plaintext to PassthroughCluster, which STRICT mTLS resets "
        f"(istio/istio#41978): add {ALL_NAMESPACES!r} or give it a workloadSelector"
    )
    catch_all = [(k, e) for k, e in enumerate(egress) if isinstance(e, dict) and not e.get("port")]
    if not catch_all:
        return [("spec.egress", f"no egress listener without a port (traffic on other ports is cut): {why}")]
    return [(f"spec.egress[{k}].hosts", why) for k, e in catch_all if ALL_NAMESPACES not in (e.get("hosts") or [])]


def root_sidecar_keeps_all_namespaces(r: Res) -> list[str]:
    if r.kind != "Sidecar":
        return []
    return [f"Sidecar {r.name}: {where}: {why}" for where, why in root_sidecar_problems(r.props)]


def ca_key_strength(r: Res) -> list[str]:
    if r.kind == "Certificate" and str(r.props.get("apiVersion", "")).startswith("cert-manager.io/"):
        return issued_ca_key_strength(r)
    if r.type == PCA_AUTHORITY:
        algorithm = (r.props.get("certificateAuthorityConfiguration") or {}).get("keyAlgorithm")
        if algorithm not in PCA_STRONG_KEYS:
            return [f"AWS Private CA {r.name} uses key algorithm {algorithm}; at least RSA_2048 or EC_prime256v1"]
        return []
    if r.type != PRIVATE_KEY:
        return []
    algorithm = r.props.get("algorithm")
    if algorithm == "RSA" and int(r.props.get("rsaBits") or 2048) < MIN_RSA_BITS:
        return [f"key {r.name} has {r.props.get('rsaBits')} RSA bits; at least {MIN_RSA_BITS}"]
    if algorithm == "ECDSA" and r.props.get("ecdsaCurve", "P224") not in ALLOWED_CURVES:
        return [f"key {r.name} uses curve {r.props.get('ecdsaCurve', 'P224')}; at least P256"]
    if algorithm not in ("RSA", "ECDSA"):
        return [f"key {r.name} uses {algorithm}; the mesh CA uses RSA >= 2048 or ECDSA >= P256"]
    return []


def issued_ca_key_strength(r: Res) -> list[str]:
    """A cert-manager CA Certificate (ca.backend cert-manager): the key cert-manager makes for it."""
    spec = r.props.get("spec") or {}
    if spec.get("isCA") is not True:
        return []
    key = spec.get("privateKey") or {}
    algorithm, size = key.get("algorithm", "RSA"), key.get("size")
    if algorithm == "RSA" and int(size or 2048) < MIN_RSA_BITS:
        return [f"Certificate {r.name} asks for {size} RSA bits; at least {MIN_RSA_BITS}"]
    if algorithm == "ECDSA" and int(size or 256) < 256:
        return [f"Certificate {r.name} asks for an ECDSA key of {size} bits; at least 256 (P256)"]
    if algorithm not in ("RSA", "ECDSA"):
        return [f"Certificate {r.name} asks for a {algorithm} key; the mesh CA uses RSA >= 2048 or ECDSA >= P256"]
    return []


def root_key_protected(r: Res) -> list[str]:
    if r.type == PRIVATE_KEY and f"{ROOT_CA}$" in r.urn and not r.protect:
        return [f"root CA key {r.name} must be protected (meshbridge:ca.protectRoot: true)"]
    if r.type == PCA_AUTHORITY and r.props.get("type") == "ROOT" and not r.protect:
        return [f"root CA {r.name} in AWS Private CA must be protected (meshbridge:ca.protectRoot: true)"]
    return []


def web_identity_scoped(r: Res) -> list[str]:
    """A role that trusts an OIDC provider (IRSA) admits one ServiceAccount, for STS only: `:sub`
    and `:aud` compared with StringEquals (a role trusting the provider alone admits every pod of
    the cluster)."""
    if r.type != IAM_ROLE:
        return []
    try:
        document = json.loads(str(r.props.get("assumeRolePolicy") or "{}"))
    except json.JSONDecodeError:
        return []
    statements = document.get("Statement") or []
    found = []
    for n, st in enumerate(statements if isinstance(statements, list) else [statements]):
        federated = str((st.get("Principal") or {}).get("Federated") or "")
        if st.get("Effect") != "Allow" or ":oidc-provider/" not in federated:
            continue
        issuer = federated.split(":oidc-provider/", 1)[1]
        equals = (st.get("Condition") or {}).get("StringEquals") or {}
        sub, aud = equals.get(f"{issuer}:sub"), equals.get(f"{issuer}:aud")
        if not isinstance(sub, str) or not sub.startswith("system:serviceaccount:") or "*" in sub:
            found.append(
                f"role {r.name}: trust statement {n} admits more than one ServiceAccount (StringEquals {issuer}:sub)"
            )
        if aud != "sts.amazonaws.com":
            found.append(f"role {r.name}: trust statement {n} does not require the audience sts.amazonaws.com")
    return found


def strict_mtls_in_production(resources: list[Res]) -> list[str]:
    out = []
    for r in resources:
        if r.kind == "PeerAuthentication" and is_production(r.stack):
            meta = r.props.get("metadata") or {}
            mode = ((r.props.get("spec") or {}).get("mtls") or {}).get("mode")
            if meta.get("namespace") == "istio-system" and mode != "STRICT":
                out.append(f"PeerAuthentication {r.name} in production stack {r.stack} has mtls {mode}; STRICT")
    return out


def imported_hosts_mutual_tls(resources: list[Res]) -> list[str]:
    """Every imported (MESH_INTERNAL ServiceEntry) host has an ISTIO_MUTUAL DestinationRule in its cluster."""
    mutual: set[tuple[str, str]] = set()
    entries: list[tuple[Res, str, str]] = []
    for r in resources:
        spec = r.props.get("spec") or {}
        provider = r.provider  # objects on one cluster's provider belong to that cluster
        if (
            r.kind == "DestinationRule"
            and ((spec.get("trafficPolicy") or {}).get("tls") or {}).get("mode") == "ISTIO_MUTUAL"
        ):
            mutual.add((provider, spec.get("host", "")))
        if r.kind == "ServiceEntry" and spec.get("location") == "MESH_INTERNAL":
            for host in spec.get("hosts") or []:
                entries.append((r, provider, host))
    return [
        f"ServiceEntry {r.name} imports {host} without an ISTIO_MUTUAL DestinationRule for it"
        for r, provider, host in entries
        if (provider, host) not in mutual
    ]


ResourceRule = Callable[[Res], list[str]]
StackRule = Callable[[list[Res]], list[str]]

# an intermediate CA expiring within this many days is reported (advisory: the preview goes on)
EXPIRY_WARNING_DAYS = 30


def _rfc3339(value: Any) -> Optional[datetime]:
    """The time of an RFC 3339 string (the tls provider's validityEndTime), None when unknown."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def intermediate_ca_expiry(r: Res, now: Optional[datetime] = None) -> list[str]:
    """An intermediate CA (LocallySignedCert) whose validityEndTime is within EXPIRY_WARNING_DAYS."""
    if r.type != "tls:index/locallySignedCert:LocallySignedCert":
        return []
    end = _rfc3339(r.props.get("validityEndTime"))
    if end is None:
        return []  # not issued yet (a create in this preview)
    left = end - (now or datetime.now(timezone.utc))
    if left > timedelta(days=EXPIRY_WARNING_DAYS):
        return []
    when = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} days"
    return [
        f"{r.name}: the intermediate CA {when} ({end.isoformat()}); the first `pulumi up` within "
        "meshbridge:ca.earlyRenewalHours of it re-issues it: run one (docs/runbook.md, 'Intermediate renewal')"
    ]


RESOURCE_RULES: dict[str, tuple[str, ResourceRule]] = {
    "load-balancers-internal": ("Load balancers are internal.", lb_internal),
    "services-not-internet-facing": (
        "No Service or Ingress asks for an internet-facing load balancer.",
        services_not_internet_facing,
    ),
    "no-open-ingress": ("No security group rule admits 0.0.0.0/0 or ::/0.", no_open_ingress),
    "endpoint-services-not-public": ("Endpoint services are not open to '*' principals.", endpoint_service_not_public),
    "gateway-hosts-explicit": ("Gateway hosts are never '*' (list the exported hosts).", gateway_hosts_not_wildcard),
    "root-sidecar-keeps-all-namespaces": (
        "A root-namespace default Sidecar keeps '*/*' in its egress (other namespaces stay reachable).",
        root_sidecar_keeps_all_namespaces,
    ),
    "ca-key-strength": ("CA keys are at least RSA 2048 or ECDSA P256.", ca_key_strength),
    "root-ca-key-protected": ("The root CA key is protected.", root_key_protected),
    "web-identity-scoped": (
        "An IAM role that trusts a cluster's OIDC provider admits one ServiceAccount, for STS only.",
        web_identity_scoped,
    ),
    "intermediate-ca-expiry": (
        f"No intermediate CA expires within {EXPIRY_WARNING_DAYS} days (advisory).",
        intermediate_ca_expiry,
    ),
    "ingress-gateway-internet-facing": (
        "An ingress gateway is internet-facing only where a cluster asks for it (advisory: flagged).",
        ingress_gateway_internet_facing,
    ),
}
# reported as warnings: the preview and `up` go on
ADVISORY = frozenset({"intermediate-ca-expiry", "ingress-gateway-internet-facing"})

STACK_RULES: dict[str, tuple[str, StackRule]] = {
    "strict-mtls-in-production": ("Mesh PeerAuthentication is STRICT in production stacks.", strict_mtls_in_production),
    "imported-hosts-istio-mutual": (
        "Every imported host has an ISTIO_MUTUAL DestinationRule.",
        imported_hosts_mutual_tls,
    ),
}


def violations(resources: list[Res]) -> list[tuple[str, str]]:
    """(policy name, message) for every violation in a whole stack."""
    found = [(name, msg) for r in resources for name, (_, rule) in RESOURCE_RULES.items() for msg in rule(r)]
    found += [(name, msg) for name, (_, rule) in STACK_RULES.items() for msg in rule(resources)]
    return found
