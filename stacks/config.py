"""Typed stack configuration of meshbridge (the `meshbridge:*` keys of a Pulumi stack file).

Every key is documented in docs/configuration.md. `parse_config` validates everything before a
single resource is registered; a mistake raises `ConfigError`, one line per problem, each line
starting with the key path (`meshbridge:clusters[1].vpc.cidr: ...`). `ConfigError` is a
`pulumi.RunError`, so `pulumi up` prints the lines without a traceback and synth exits 2.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pulumi
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "meshbridge"
TOP_LEVEL_KEYS = ("mesh", "ca", "clusters", "services", "distribute")

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
ROLE_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
STACK_NAME_RE = re.compile(r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")
LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
# Istio ServiceEntry port protocols that can cross the east-west gateway (mTLS, AUTO_PASSTHROUGH).
PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")
HTTP_PROTOCOLS = ("HTTP", "GRPC", "HTTP2")
GATEWAY_PORT = 15443


class ConfigError(pulumi.RunError):
    """Invalid stack configuration: one line per problem, each starting with the key path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid meshbridge configuration:\n" + "\n".join(problems))


def _check(pattern: re.Pattern[str], what: str):
    def validate(value: str) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return validate


DnsLabel = Annotated[
    str, AfterValidator(_check(DNS_LABEL_RE, "DNS label (lower case letters, digits and '-', at most 63)"))
]
DnsName = Annotated[str, AfterValidator(_check(DNS_NAME_RE, "DNS name (lower case labels separated by '.')"))]
Region = Annotated[str, AfterValidator(_check(REGION_RE, "AWS region such as us-east-1"))]
AccountId = Annotated[str, AfterValidator(_check(ACCOUNT_RE, "AWS account id (12 digits, quoted in YAML)"))]
VpcId = Annotated[str, AfterValidator(_check(VPC_ID_RE, "VPC id such as vpc-0a1b2c3d4e5f60001"))]
SubnetId = Annotated[str, AfterValidator(_check(SUBNET_ID_RE, "subnet id such as subnet-0a1b2c3d4e5f60011"))]
RoleArn = Annotated[
    str, AfterValidator(_check(ROLE_ARN_RE, "IAM role ARN such as arn:aws:iam::111111111111:role/name"))
]
StackName = Annotated[str, AfterValidator(_check(STACK_NAME_RE, "Pulumi stack name such as org/project/stack"))]
Version = Annotated[str, AfterValidator(_check(VERSION_RE, "Istio version such as 1.30.3"))]


class Model(BaseModel):
    """camelCase keys, unknown keys are errors, values immutable after validation."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True, strict=False
    )


# ---------------------------------------------------------------------------- meshbridge:mesh


class IstioSettings(Model):
    version: Version = "1.30.3"
    repository: str = "https://istio-release.storage.googleapis.com/charts"
    revision: Optional[DnsLabel] = None

    @field_validator("repository")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^(https://|oci://)[^\s]+$", value):
            raise ValueError(f"{value!r} must be an https:// or oci:// chart repository URL")
        return value.rstrip("/")


class MeshSettings(Model):
    id: DnsLabel
    trust_domain: DnsName = "cluster.local"
    connectivity: Literal["privatelink", "routed"] = "privatelink"
    mtls: Literal["STRICT", "PERMISSIVE"] = "STRICT"
    import_namespace: DnsLabel = "istio-system"
    istio: IstioSettings = IstioSettings()
    gateway_dns: Optional[DnsName] = None
    allowed_accounts: Optional[list[AccountId]] = None


# ------------------------------------------------------------------------------ meshbridge:ca


class RootSpec(Model):
    name: DnsLabel


class CaSettings(Model):
    key_algorithm: Literal["RSA", "ECDSA"] = "RSA"
    rsa_bits: Literal[2048, 3072, 4096] = 4096
    ecdsa_curve: Literal["P256", "P384"] = "P256"
    organization: str = Field("Istio", min_length=1, max_length=64)
    root_validity_hours: int = Field(87600, gt=0)
    intermediate_validity_hours: int = Field(17520, gt=0)
    early_renewal_hours: int = Field(720, ge=0)
    protect_root: bool = True
    roots: list[RootSpec] = Field(default_factory=lambda: [RootSpec(name="root")], min_length=1)
    active_root: Optional[DnsLabel] = None

    @property
    def active(self) -> str:
        return self.active_root or self.roots[-1].name


# ------------------------------------------------------------------------ meshbridge:clusters


class KubernetesAccess(Model):
    context: Optional[str] = Field(None, min_length=1)
    kubeconfig: Optional[str] = Field(None, min_length=1)


class VpcSettings(Model):
    id: Optional[VpcId] = None
    cidr: Optional[str] = None
    subnet_ids: Optional[list[SubnetId]] = Field(None, min_length=1)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 CIDR block ({exc})") from None
        return str(net)


class AwsSettings(Model):
    assume_role_arn: Optional[RoleArn] = None


class InfraStackOutputs(Model):
    """Which output of the upstream stack fills which value (value = output name there)."""

    vpc_id: Optional[str] = None
    vpc_cidr: Optional[str] = None
    subnet_ids: Optional[str] = None
    kubeconfig: Optional[str] = None
    account_id: Optional[str] = None


class InfraStack(Model):
    name: StackName
    outputs: InfraStackOutputs = InfraStackOutputs()


class ClusterSpec(Model):
    name: DnsLabel
    network: DnsLabel
    region: Region
    zone: Optional[str] = None
    account_id: Optional[AccountId] = None
    labels: dict[str, str] = Field(default_factory=dict)
    kubernetes: KubernetesAccess = KubernetesAccess()
    vpc: VpcSettings = VpcSettings()
    aws: AwsSettings = AwsSettings()
    infra_stack: Optional[InfraStack] = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not LABEL_KEY_RE.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
            if not isinstance(val, str) or not LABEL_VALUE_RE.match(val):
                raise ValueError(f"label {key}: {val!r} is not a valid label value")
        return value

    def from_stack(self, key: str) -> Optional[str]:
        """The upstream output name that fills `key` (an InfraStackOutputs field), if any."""
        if self.infra_stack is None:
            return None
        return getattr(self.infra_stack.outputs, key)

    @property
    def kubeconfig_literal(self) -> bool:
        return self.kubernetes.kubeconfig is not None


# ------------------------------------------------------------------------ meshbridge:services


class PortSpec(Model):
    port: int = Field(ge=1, le=65535)
    name: DnsLabel
    protocol: Literal["HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS"] = "TCP"

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


class PerPod(Model):
    replicas: int = Field(ge=1, le=1000)
    alias_prefix: str = ""

    @field_validator("alias_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not re.match(r"^[a-z0-9][-a-z0-9]*$", value):
            raise ValueError(f"{value!r} must be lower case letters, digits and '-' (it prefixes a DNS label)")
        return value


class ConsumerSpec(Model):
    cluster: str
    principals: list[str] = Field(min_length=1)
    methods: Optional[list[Literal[HTTP_METHODS]]] = None  # type: ignore[valid-type]
    paths: Optional[list[str]] = None

    @field_validator("principals")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        for principal in value:
            parts = principal.split("/")
            if len(parts) != 2 or not all(DNS_LABEL_RE.match(p) for p in parts):
                raise ValueError(f"principal {principal!r} must be '<namespace>/<serviceaccount>'")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        for path in value or []:
            if not path.startswith("/") and path != "*":
                raise ValueError(f"path {path!r} must start with '/'")
        return value


class ServiceSpec(Model):
    name: DnsLabel
    namespace: DnsLabel
    exported_from: list[str] = Field(min_length=1)
    service_account: Optional[DnsLabel] = None
    selector: Optional[dict[str, str]] = None
    ports: list[PortSpec] = Field(min_length=1)
    alias: Optional[DnsName] = None
    per_pod: Optional[PerPod] = None
    consumers: list[ConsumerSpec] = Field(min_length=1)
    traffic_policy: Optional[dict[str, Any]] = None

    @property
    def sa(self) -> str:
        return self.service_account or self.name

    @property
    def workload_selector(self) -> dict[str, str]:
        return dict(self.selector) if self.selector else {"app": self.name}

    def fqdn(self, domain: str = "cluster.local") -> str:
        return f"{self.name}.{self.namespace}.svc.{domain}"

    @property
    def host(self) -> str:
        """The consumer-side host: the alias when given, otherwise the real FQDN."""
        return self.alias or self.fqdn()

    def pod_hosts(self) -> list[tuple[str, str]]:
        """(consumer-side alias host, real per-pod FQDN) for each StatefulSet pod."""
        if self.per_pod is None:
            return []
        prefix = self.per_pod.alias_prefix
        return [
            (
                f"{prefix}{self.name}-{i}.{self.namespace}.svc.cluster.local",
                f"{self.name}-{i}.{self.namespace}.svc.cluster.local",
            )
            for i in range(self.per_pod.replicas)
        ]

    def consumer_hosts(self) -> list[str]:
        return [self.host] + [alias for alias, _ in self.pod_hosts()]


# ---------------------------------------------------------------------- meshbridge:distribute


class DistributeSpec(Model):
    name: DnsLabel
    cluster_selector: dict[str, str] = Field(min_length=1)
    manifests: Optional[list[dict[str, Any]]] = None
    file: Optional[str] = None


# ------------------------------------------------------------------------------ whole config


class MeshConfig(Model):
    """The validated configuration of one stack."""

    mesh: MeshSettings
    ca: CaSettings
    clusters: list[ClusterSpec]
    services: list[ServiceSpec]
    distribute: list[DistributeSpec]
    # manifests of `distribute` entries with `file`, loaded and parsed (same order as distribute)
    distribute_manifests: list[list[dict[str, Any]]] = Field(default_factory=list)

    def cluster(self, name: str) -> ClusterSpec:
        return next(c for c in self.clusters if c.name == name)

    def producers(self) -> list[str]:
        """Clusters that export at least one service, in cluster order."""
        names = {p for s in self.services for p in s.exported_from}
        return [c.name for c in self.clusters if c.name in names]

    def remote_producers(self, service: ServiceSpec, consumer: str) -> list[str]:
        return [p for p in service.exported_from if p != consumer]

    def pairs(self) -> list[tuple[str, str]]:
        """(consumer, producer) pairs that need a private link, from the services' consumers."""
        found = {(c.cluster, p) for s in self.services for c in s.consumers for p in s.exported_from if p != c.cluster}
        order = {c.name: i for i, c in enumerate(self.clusters)}
        return sorted(found, key=lambda pair: (order[pair[0]], order[pair[1]]))

    def exported_hosts(self, cluster: str) -> list[str]:
        """Real FQDNs the cluster's east-west gateway must pass through (sorted)."""
        hosts: set[str] = set()
        for s in self.services:
            if cluster in s.exported_from:
                hosts.add(s.fqdn())
                hosts.update(real for _, real in s.pod_hosts())
        return sorted(hosts)

    def selected_clusters(self, index: int) -> list[str]:
        selector = self.distribute[index].cluster_selector
        return [c.name for c in self.clusters if all(c.labels.get(k) == v for k, v in selector.items())]


# ------------------------------------------------------------------------------- validation


def _path(key: str, loc: tuple[Any, ...]) -> str:
    out = f"{NAMESPACE}:{key}"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _pydantic_problems(key: str, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(f"{_path(key, loc)}: {msg}")
    return problems


_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "mesh": TypeAdapter(MeshSettings),
    "ca": TypeAdapter(CaSettings),
    "clusters": TypeAdapter(list[ClusterSpec]),
    "services": TypeAdapter(list[ServiceSpec]),
    "distribute": TypeAdapter(list[DistributeSpec]),
}
_DEFAULTS: dict[str, Any] = {"ca": {}, "services": [], "distribute": []}


def parse_config(raw: dict[str, Any], project_root: Path | str = ".", extra_keys: tuple[str, ...] = ()) -> MeshConfig:
    """Validate the `meshbridge:*` values (`raw` maps key without namespace -> decoded value).

    `extra_keys` are other `meshbridge:` keys found in the stack config (typos of top-level keys).
    """
    problems: list[str] = [f"{NAMESPACE}:{k}: unknown key (known: {', '.join(TOP_LEVEL_KEYS)})" for k in extra_keys]
    parsed: dict[str, Any] = {}
    for key, adapter in _ADAPTERS.items():
        value = raw.get(key)
        if value is None:
            if key not in _DEFAULTS:
                problems.append(f"{NAMESPACE}:{key}: required key is missing")
                continue
            value = _DEFAULTS[key]
        try:
            parsed[key] = adapter.validate_python(value)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(key, exc))
    if problems:
        raise ConfigError(problems)

    cfg = MeshConfig(**parsed)
    manifests, file_problems = _load_distribute(cfg.distribute, Path(project_root))
    problems.extend(file_problems)
    problems.extend(_cross_checks(cfg))
    if problems:
        raise ConfigError(problems)
    return cfg.model_copy(update={"distribute_manifests": manifests})


def _dupes(values: list[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1}


def _cross_checks(cfg: MeshConfig) -> list[str]:
    p: list[str] = []
    mesh = cfg.mesh
    names = [c.name for c in cfg.clusters]
    known = ", ".join(names) or "none"
    clusters = {c.name: c for c in cfg.clusters}

    # -- ca
    ca = cfg.ca
    root_names = [r.name for r in ca.roots]
    for i, root in enumerate(ca.roots):
        if root.name in _dupes(root_names) and root_names.index(root.name) != i:
            p.append(f"meshbridge:ca.roots[{i}].name: duplicate root name {root.name!r}")
    if ca.active_root is not None and ca.active_root not in root_names:
        p.append(f"meshbridge:ca.activeRoot: {ca.active_root!r} is not one of ca.roots ({', '.join(root_names)})")
    if ca.active_root is None and len(ca.roots) > 1:
        p.append("meshbridge:ca.activeRoot: required when ca.roots lists more than one root")
    if ca.intermediate_validity_hours >= ca.root_validity_hours:
        p.append(
            f"meshbridge:ca.intermediateValidityHours: {ca.intermediate_validity_hours} must be shorter than "
            f"rootValidityHours ({ca.root_validity_hours})"
        )
    if ca.early_renewal_hours >= ca.intermediate_validity_hours:
        p.append(
            f"meshbridge:ca.earlyRenewalHours: {ca.early_renewal_hours} must be shorter than "
            f"intermediateValidityHours ({ca.intermediate_validity_hours})"
        )

    # -- clusters
    if not cfg.clusters:
        p.append("meshbridge:clusters: at least one cluster is required")
    for i, c in enumerate(cfg.clusters):
        at = f"meshbridge:clusters[{i}]"
        if c.name in _dupes(names) and names.index(c.name) != i:
            p.append(f"{at}.name: duplicate cluster name {c.name!r}")
        networks = [x.network for x in cfg.clusters]
        if c.network in _dupes(networks) and networks.index(c.network) != i:
            other = cfg.clusters[networks.index(c.network)].name
            p.append(
                f"{at}.network: network {c.network!r} is already used by cluster {other!r} (one network per cluster)"
            )
        if c.zone is not None and not re.match(rf"^{re.escape(c.region)}[a-z]$", c.zone):
            p.append(f"{at}.zone: {c.zone!r} is not an availability zone of region {c.region} (e.g. {c.region}a)")
        if c.kubernetes.context and c.kubernetes.kubeconfig:
            p.append(f"{at}.kubernetes: give either context or kubeconfig, not both")
        if not (c.kubernetes.context or c.kubernetes.kubeconfig or c.from_stack("kubeconfig")):
            p.append(
                f"{at}.kubernetes: no Kubernetes access: set kubernetes.context, kubernetes.kubeconfig "
                "(secret) or infraStack.outputs.kubeconfig"
            )
        for field, stack_key in (("id", "vpc_id"), ("cidr", "vpc_cidr"), ("subnet_ids", "subnet_ids")):
            if getattr(c.vpc, field) is None and not c.from_stack(stack_key):
                key = to_camel(field)
                p.append(
                    f"{at}.vpc.{key}: required (set it here or map it in infraStack.outputs.{to_camel(stack_key)})"
                )
        if c.account_id is None and not c.from_stack("account_id"):
            p.append(f"{at}.accountId: required (set it here or map it in infraStack.outputs.accountId)")
        if c.aws.assume_role_arn and c.account_id and f"::{c.account_id}:" not in c.aws.assume_role_arn:
            p.append(f"{at}.aws.assumeRoleArn: role is not in the cluster's account {c.account_id}")
        if mesh.allowed_accounts is not None and c.account_id and c.account_id not in mesh.allowed_accounts:
            p.append(
                f"{at}.accountId: account {c.account_id} is not in meshbridge:mesh.allowedAccounts "
                f"({', '.join(mesh.allowed_accounts)})"
            )
    if mesh.connectivity == "routed":
        seen: list[tuple[int, ipaddress.IPv4Network]] = []
        for i, c in enumerate(cfg.clusters):
            if c.vpc.cidr is None:
                continue
            block = ipaddress.IPv4Network(c.vpc.cidr)
            for j, earlier in seen:
                if block.overlaps(earlier):
                    p.append(
                        f"meshbridge:clusters[{i}].vpc.cidr: {block} overlaps {earlier} of clusters[{j}] "
                        "(routed connectivity needs distinct CIDRs)"
                    )
            seen.append((i, block))

    # -- services
    snames = [s.name for s in cfg.services]
    hosts: dict[str, str] = {}
    for i, s in enumerate(cfg.services):
        at = f"meshbridge:services[{i}]"
        if s.name in _dupes(snames) and snames.index(s.name) != i:
            p.append(f"{at}.name: duplicate service name {s.name!r}")
        for j, prod in enumerate(s.exported_from):
            if prod not in clusters:
                p.append(f"{at}.exportedFrom[{j}]: unknown cluster {prod!r} (known: {known})")
        if _dupes(s.exported_from):
            p.append(f"{at}.exportedFrom: lists a cluster twice ({', '.join(sorted(_dupes(s.exported_from)))})")
        for j, port in enumerate(s.ports):
            if [x.port for x in s.ports].count(port.port) > 1 and [x.port for x in s.ports].index(port.port) != j:
                p.append(f"{at}.ports[{j}].port: port {port.port} is listed twice")
            if [x.name for x in s.ports].count(port.name) > 1 and [x.name for x in s.ports].index(port.name) != j:
                p.append(f"{at}.ports[{j}].name: port name {port.name!r} is listed twice")
        non_http = [x for x in s.ports if not x.is_http]
        consumer_clusters = [c.cluster for c in s.consumers]
        for j, cons in enumerate(s.consumers):
            cat = f"{at}.consumers[{j}]"
            if cons.cluster not in clusters:
                p.append(f"{cat}.cluster: unknown cluster {cons.cluster!r} (known: {known})")
            elif s.exported_from == [cons.cluster]:
                p.append(f"{cat}.cluster: {cons.cluster!r} consumes {s.name!r}, which only it exports")
            if cons.cluster in _dupes(consumer_clusters) and consumer_clusters.index(cons.cluster) != j:
                p.append(f"{cat}.cluster: cluster {cons.cluster!r} is listed twice as a consumer")
            if (cons.methods or cons.paths) and non_http:
                which = "methods" if cons.methods else "paths"
                p.append(
                    f"{cat}.{which}: HTTP {which} cannot apply to {non_http[0].protocol} port "
                    f"{non_http[0].port} (authorization on non-HTTP ports is by principal only)"
                )
            if mesh.connectivity == "privatelink" and cons.cluster in clusters:
                acct = clusters[cons.cluster].account_id
                if mesh.allowed_accounts is not None and acct and acct not in mesh.allowed_accounts:
                    p.append(f"{cat}.cluster: consumer account {acct} is not in meshbridge:mesh.allowedAccounts")
        if len(s.exported_from) > 1:
            if not (s.traffic_policy or {}).get("outlierDetection"):
                p.append(
                    f"{at}.trafficPolicy.outlierDetection: required when a service is exported from several "
                    "clusters (locality failover needs outlier detection)"
                )
            if s.per_pod is not None:
                p.append(f"{at}.perPod: per-pod addressing needs exactly one exporting cluster")
        local_consumers = sorted({c.cluster for c in s.consumers} & set(s.exported_from))
        if local_consumers and not s.alias:
            p.append(
                f"{at}.alias: required because {', '.join(local_consumers)} both runs and imports {s.name!r}: "
                "Istio prefers the local Service over an import with the same host, which would disable failover"
            )
        if s.traffic_policy is not None:
            for k in ("tls",):
                if k in s.traffic_policy:
                    p.append(f"{at}.trafficPolicy.{k}: set by meshbridge (ISTIO_MUTUAL with SNI), remove it")
        # consumer-side hosts must be unique across services and never shadow another real host
        own = {s.fqdn(), *(real for _, real in s.pod_hosts())}
        for h_i, host in enumerate(s.consumer_hosts()):
            key = "alias" if h_i == 0 and s.alias else ("perPod.aliasPrefix" if h_i else "name")
            if not DNS_NAME_RE.match(host):
                p.append(f"{at}.{key}: host {host!r} is not a valid DNS name")
            if host in hosts and hosts[host] != s.name:
                p.append(f"{at}.{key}: host {host!r} collides with service {hosts[host]!r}")
            hosts.setdefault(host, s.name)
        for real in own:
            hosts.setdefault(real, s.name)
    # an alias may not shadow another service's real host (checked after all hosts are known)
    for i, s in enumerate(cfg.services):
        for peer in cfg.services:
            if peer.name != s.name and s.alias and s.alias in {peer.fqdn(), *(r for _, r in peer.pod_hosts())}:
                p.append(f"meshbridge:services[{i}].alias: host {s.alias!r} collides with service {peer.name!r}")

    # -- distribute
    dnames = [d.name for d in cfg.distribute]
    for i, d in enumerate(cfg.distribute):
        at = f"meshbridge:distribute[{i}]"
        if d.name in _dupes(dnames) and dnames.index(d.name) != i:
            p.append(f"{at}.name: duplicate distribute name {d.name!r}")
        if not cfg.selected_clusters(i):
            sel = ", ".join(f"{k}={v}" for k, v in d.cluster_selector.items())
            p.append(f"{at}.clusterSelector: {sel} matches no cluster")
    return list(dict.fromkeys(p))


def _check_manifest(at: str, obj: Any) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{at}: a Kubernetes object must be a mapping"]
    p = [f"{at}.{k}: required key is missing" for k in ("apiVersion", "kind") if not obj.get(k)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        p.append(f"{at}.metadata.name: required key is missing")
    elif not DNS_NAME_RE.match(str(meta["name"])):
        p.append(f"{at}.metadata.name: {meta['name']!r} is not a valid object name")
    return p


def _load_distribute(entries: list[DistributeSpec], root: Path) -> tuple[list[list[dict[str, Any]]], list[str]]:
    result: list[list[dict[str, Any]]] = []
    problems: list[str] = []
    for i, d in enumerate(entries):
        at = f"meshbridge:distribute[{i}]"
        objs: list[Any] = []
        if (d.manifests is None) == (d.file is None):
            problems.append(f"{at}: give exactly one of manifests or file")
        elif d.manifests is not None:
            objs = list(d.manifests)
            if not objs:
                problems.append(f"{at}.manifests: list is empty")
            for j, obj in enumerate(objs):
                problems.extend(_check_manifest(f"{at}.manifests[{j}]", obj))
        else:
            assert d.file is not None
            path = Path(d.file)
            if path.is_absolute() or ".." in path.parts:
                problems.append(f"{at}.file: {d.file!r} must be a relative path inside the project")
            else:
                try:
                    objs = [o for o in yaml.safe_load_all((root / path).read_text(encoding="utf-8")) if o is not None]
                except OSError as exc:
                    problems.append(f"{at}.file: cannot read {d.file!r}: {exc.strerror or exc}")
                except yaml.YAMLError as exc:
                    problems.append(f"{at}.file: {d.file!r} is not valid YAML: {str(exc).splitlines()[0]}")
                else:
                    if not objs:
                        problems.append(f"{at}.file: {d.file!r} holds no Kubernetes object")
                    for j, obj in enumerate(objs):
                        problems.extend(_check_manifest(f"{at}.file[{j}]", obj))
        result.append(objs)
    return result, problems


# ------------------------------------------------------------------------- reading the stack


def read_raw_config() -> tuple[dict[str, Any], tuple[str, ...]]:
    """The decoded `meshbridge:*` values of the running stack and any unknown top-level keys.

    Structured values arrive as JSON strings (as the Pulumi engine passes them); a key holding a
    secret (a kubeconfig) is read as a secret so that the engine keeps it encrypted.
    """
    from pulumi.runtime.config import CONFIG

    problems: list[str] = []
    raw: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        full = f"{NAMESPACE}:{key}"
        text = pulumi.runtime.get_config(full)
        if text is None:
            continue
        try:
            raw[key] = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError:
            problems.append(f"{full}: must be a structured value (a YAML mapping or list), got {text!r}")
    if problems:
        raise ConfigError(problems)
    extra = tuple(
        sorted(
            k.split(":", 1)[1]
            for k in CONFIG.get()
            if k.startswith(f"{NAMESPACE}:") and k.split(":", 1)[1] not in TOP_LEVEL_KEYS
        )
    )
    return raw, extra


def load_stack_config(project_root: Path | str = ".") -> MeshConfig:
    raw, extra = read_raw_config()
    return parse_config(raw, project_root, extra)


def is_secret_key(key: str) -> bool:
    return bool(pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"))
