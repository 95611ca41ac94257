"""The typed model of the stack configuration (the `meshbridge:*` keys of a Pulumi stack file).

One pydantic class per section (`meshbridge:mesh`, `ca`, `clusters`, `services`, `distribute`) and
`MeshConfig` for the whole; every key is documented in docs/configuration.md. The model checks each
value on its own (formats, ranges, unknown keys); what needs several values at once is in
`stacks/config/checks.py`, and reading the stack in `stacks/config/load.py`.
"""

from __future__ import annotations

import http
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.constants import CHECK_IMAGE, CLUSTER_DOMAIN, ISTIO_NAMESPACE, TRACING_PORTS, service_fqdn
from stacks.config.problems import show
from stacks.config.trafficpolicy import MAX_NANOS, duration_nanos


def _full(pattern: str) -> re.Pattern[str]:
    """A pattern that matches the whole string or nothing, ASCII only: `.match` is a full match
    (`\\Z`, unlike `$`, does not accept a trailing newline; `[0-9]`, unlike `\\d`, no other digits)."""
    return re.compile(rf"\A(?:{pattern})\Z", re.ASCII)


DNS_LABEL_RE = _full(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes Service names (and so per-pod Service names `<name>-<i>`) are DNS-1035 labels
DNS_1035_RE = _full(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_NAME_RE = _full(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*")
REGION_RE = _full(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
ACCOUNT_RE = _full(r"[0-9]{12}")
VPC_ID_RE = _full(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?")
SUBNET_ID_RE = _full(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?")
EKS_NAME_RE = _full(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
ROLE_ARN_RE = _full(r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
# an EKS cluster's IAM OIDC identity provider (IRSA): arn:aws:iam::<account>:oidc-provider/<issuer host/path>
OIDC_PROVIDER_ARN_RE = _full(
    r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:oidc-provider/[a-z0-9.-]{1,253}(/[A-Za-z0-9_.-]{1,128}){0,8}"
)
# an AWS Private CA: arn:aws:acm-pca:<region>:<account>:certificate-authority/<uuid>
PCA_ARN_RE = _full(
    r"arn:aws(-[a-z]+)*:acm-pca:[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]:[0-9]{12}:certificate-authority/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# [org/]project/]stack: each part letters, digits, '_', '.', '-' (at most 100), never '.' or '..'
STACK_NAME_RE = _full(r"((?!\.{1,2}/)[A-Za-z0-9_.-]{1,100}/){0,2}(?!\.{1,2}\Z)[A-Za-z0-9_.-]{1,100}")
# Kubernetes label key: optional DNS subdomain prefix (at most 253) and '/', then a name of at most 63
LABEL_KEY_RE = _full(
    r"((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
LABEL_VALUE_RE = _full(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
VERSION_RE = _full(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?")
# Pulumi stack output names that infraStack.outputs may name
OUTPUT_NAME_RE = _full(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
# a container image pinned by digest: [registry[:port]/]path[:tag]@sha256:<64 hex>
IMAGE_DIGEST_RE = _full(
    r"([A-Za-z0-9.-]+(:[0-9]{1,5})?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}"
)
HTTP_PATH_RE = _full(r"/[!-~]*")
PROM_LABEL_RE = _full(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
HOST_PORT_RE = _full(r"[A-Za-z0-9.-]{1,253}:[0-9]{1,5}")
HTTPS_URL_RE = _full(r"https://[!-~]+")
# the longest string any pattern above can match; longer values are refused before matching
MAX_PATTERN_INPUT = 1024
# pulumi-tls computes NotAfter as now + time.Duration(hours) * time.Hour: Go's int64 nanoseconds
# overflow above this many hours (about 292 years), so no validity may exceed it
MAX_TLS_HOURS = (2**63 - 1) // (3600 * 10**9)
# longest value shown back in an error line, and longest error line
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
# Istio ServiceEntry port protocols that can cross the east-west gateway (mTLS, AUTO_PASSTHROUGH).
PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")
HTTP_PROTOCOLS = ("HTTP", "GRPC", "HTTP2")
# suffix of the headless twin Service of a multi-producer service (ServiceSpec.local_twin)
LOCAL_TWIN_SUFFIX = "-meshbridge-local"


def _check(pattern: re.Pattern[str], what: str):
    def validate(value: str) -> str:
        if not isinstance(value, str) or len(value) > MAX_PATTERN_INPUT or not pattern.match(value):
            raise ValueError(f"{show(value)} is not a valid {what}")
        return value

    return validate


def _strict_int(value: Any) -> Any:
    """Before a Literal of integers: only a real integer (pydantic would take 2048.0 for 2048)."""
    if type(value) is not int:
        raise ValueError(f"{show(value)} must be an integer")
    return value


def _unique(value: Optional[list[Any]]) -> Optional[list[Any]]:
    """A list whose items are all different (a repeated item is a mistake, never merged silently)."""
    if value is not None:
        seen: set[Any] = set()
        for item in value:
            if item in seen:
                raise ValueError(f"{show(item)} is listed twice")
            seen.add(item)
    return value


def _text(max_length: int):
    """A printable string: no control characters (a newline would split every error line), no
    leading or trailing whitespace, at most `max_length` characters."""

    def validate(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"{show(value)} is longer than {max_length} characters")
        if not value.isprintable() or value != value.strip():
            raise ValueError(
                f"{show(value)} must be printable text without leading/trailing spaces or control characters"
            )
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
ServiceName = Annotated[
    str,
    AfterValidator(_check(DNS_1035_RE, "Service name (DNS-1035 label: a lower case letter first, at most 63)")),
]
OutputName = Annotated[str, AfterValidator(_check(OUTPUT_NAME_RE, "stack output name"))]
OidcProviderArn = Annotated[
    str,
    AfterValidator(
        _check(
            OIDC_PROVIDER_ARN_RE,
            "IAM OIDC provider ARN such as "
            "arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        )
    ),
]
PcaArn = Annotated[
    str,
    AfterValidator(
        _check(
            PCA_ARN_RE, "AWS Private CA ARN such as arn:aws:acm-pca:us-east-1:111111111111:certificate-authority/<uuid>"
        )
    ),
]
PinnedImage = Annotated[
    str, AfterValidator(_check(IMAGE_DIGEST_RE, "image reference pinned by digest (name@sha256:<64 hex>)"))
]


def label_problem(key: Any, value: Any) -> Optional[str]:
    """Why (key, value) is not a Kubernetes label (None when it is)."""
    if not isinstance(key, str) or len(key) > 317 or not LABEL_KEY_RE.match(key):
        return f"label key {show(key)} is not a valid Kubernetes label key ([prefix/]name, name at most 63 characters)"
    if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE_RE.match(value):
        return (
            f"label {show(key)}: {show(value)} is not a valid label value (at most 63 letters, digits, '-', '_', '.')"
        )
    return None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        problem = label_problem(key, val)
        if problem:
            raise ValueError(problem)
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]


def repository_problem(value: str) -> Optional[str]:
    """Why `value` is not a usable Helm chart repository URL (None when it is)."""
    if len(value) > 2048 or not value.isascii() or not value.isprintable() or " " in value:
        return "must be an https:// or oci:// URL in printable ASCII without spaces"
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if url.scheme not in ("https", "oci") or not value.startswith(f"{url.scheme}://"):
        return "must start with https:// (a chart repository) or oci:// (a registry)"
    host = url.hostname or ""
    if "@" in url.netloc:
        return "must not carry credentials (use the Helm repository credentials of the cluster instead)"
    if not host:
        return "has no host name"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not DNS_NAME_RE.match(host):
            return f"has an invalid host name {show(host)}"
    if port == 0:
        return "has port 0"
    if address_problem(host):
        return f"has a host that is no chart repository: {address_problem(host)}"
    if url.query or url.fragment or "?" in value or "#" in value:
        return "must not have a query or fragment"
    if "//" in url.path or any(part in (".", "..") for part in url.path.split("/")):
        return "has an empty, '.' or '..' path segment"
    return None


IPV4_RE = _full(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
# the instance metadata service (IMDS): its IPv4 address is also link-local; the IPv6 one is not
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "fd00:ec2::23")
# names that are this machine (or pod) wherever they are resolved
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def address_problem(host: str) -> Optional[str]:
    """Why `host` (a name or IP address where meshbridge or another cluster connects) is an address
    that is never another cluster's service (None when it is fine): loopback, unspecified,
    link-local, multicast, reserved, or the instance metadata service."""
    bare = host.strip("[]").rstrip(".").lower()
    if bare in LOCAL_NAMES or bare.endswith(".localhost"):
        return f"{show(host)} is this machine (loopback), never another cluster"
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return None
    if bare in METADATA_ADDRESSES:
        return f"{show(host)} is the instance metadata service"
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast or ip.is_reserved:
        return f"{show(host)} is a loopback, unspecified, link-local, multicast or reserved address"
    return None


def url_address_problem(value: str) -> Optional[str]:
    """Host and port of a URL: an address `address_problem` accepts, a port from 1 to 65535."""
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError as exc:
        return f"is not a valid URL ({exc}; ports are 1-65535)"
    if port == 0:
        return "has port 0 (ports are 1-65535)"
    return address_problem(url.hostname or "")


def host_port_problem(value: str) -> Optional[str]:
    """A `host:port` address: host as in `address_problem`, port from 1 to 65535."""
    host, _, port = value.rpartition(":")
    if not 1 <= int(port) <= 65535:
        return f"port {port} is not from 1 to 65535"
    return address_problem(host)


def _ipv4_address(value: str) -> str:
    """A unicast IPv4 address a VM can have (no loopback, link-local, multicast, reserved)."""
    if not isinstance(value, str) or len(value) > 15 or not IPV4_RE.match(value):
        raise ValueError(f"{show(value)} is not an IPv4 address")
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{show(value)} is not an IPv4 address (each part 0-255, no leading zeros)") from None
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local or ip.is_reserved:
        raise ValueError(f"{show(value)} is a loopback, unspecified, multicast, link-local or reserved address")
    return value


def is_ipv4(value: str) -> bool:
    """`value` is a dotted-quad IPv4 address (full match, ASCII digits)."""
    return bool(IPV4_RE.match(value))


def gateway_address_problem(value: str) -> Optional[str]:
    """Why `value` is not a usable local-mode gateway address (None when it is): an IPv4 address a
    pod of another cluster can reach, or a DNS name."""
    if len(value) > 253:
        return "is not an IPv4 address or DNS name (at most 253 characters)"
    if IPV4_RE.match(value):
        try:
            ip = ipaddress.IPv4Address(value)
        except ValueError:
            return "is not an IPv4 address (each part 0-255, no leading zeros)"
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local or ip.is_reserved:
            return (
                "is a loopback, unspecified, multicast, link-local or reserved address: "
                "pods of another cluster cannot reach it"
            )
        if ip.is_global:
            return (
                "is a public address: local connectivity joins clusters on one private network (docs/local.md); "
                "a gateway on a public address is reachable from the internet"
            )
        return None
    if re.fullmatch(r"[0-9.]+", value, re.ASCII):
        return "is not an IPv4 address a.b.c.d"
    if value in LOCAL_NAMES or value.endswith(".localhost"):
        return "is this machine (loopback): pods of another cluster cannot reach it"
    if not DNS_NAME_RE.match(value):
        return "must be an IPv4 address (a.b.c.d) or a DNS name (lower case labels separated by '.')"
    return None


# IPv4 blocks no VPC uses (RFC 6890: "this network", documentation, broadcast); the ipaddress
# properties cover loopback, link-local, multicast and 240.0.0.0/4
RESERVED_BLOCKS = tuple(
    ipaddress.IPv4Network(b)
    for b in ("0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "255.255.255.255/32")
)


def cidr_problem(value: str) -> Optional[str]:
    """Why `value` is not a VPC CIDR block as AWS allows it (None when it is)."""
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}", value, re.ASCII):
        return "is not an IPv4 CIDR block a.b.c.d/prefix (the prefix length is required)"
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        return f"is not an IPv4 CIDR block ({exc})"
    if str(net) != value:
        return f"must be written {net}"
    if not 16 <= net.prefixlen <= 28:
        return "is not a VPC CIDR block: AWS allows prefix lengths /16 to /28 (0.0.0.0/0 would admit anyone)"
    if (
        net.is_loopback
        or net.is_link_local
        or net.is_multicast
        or net.is_reserved
        or net.is_unspecified
        or any(net.overlaps(r) for r in RESERVED_BLOCKS)
    ):
        return (
            "is in a loopback, link-local, multicast, reserved, 'this network' (0.0.0.0/8) or documentation "
            "range, not a VPC CIDR block"
        )
    return None


class Model(BaseModel):
    """camelCase keys, unknown keys are errors, values immutable after validation."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True, strict=True
    )


# ---------------------------------------------------------------------------- meshbridge:mesh


# the name of Istio's unrevisioned control plane (release and Service `istiod`) in `revisions`
UNREVISIONED = "default"
MAX_REVISIONS = 3


class RevisionSpec(Model):
    """One Istio control plane revision: its name (`default`: the unrevisioned istiod) and version."""

    name: DnsLabel
    version: Version


class IstioSettings(Model):
    version: Version = "1.30.3"
    repository: str = "https://istio-release.storage.googleapis.com/charts"
    # a local folder holding the base, istiod and gateway charts, instead of the repository
    chart_directory: Optional[Annotated[str, AfterValidator(_text(1024))]] = Field(None, min_length=1)
    revision: Optional[DnsLabel] = None
    # canary upgrades: the control planes side by side, oldest first (instead of version/revision);
    # the `default` revision tag and the east-west gateways' injector are moved explicitly
    revisions: Optional[list[RevisionSpec]] = Field(None, min_length=1, max_length=MAX_REVISIONS)
    default_revision: Optional[DnsLabel] = None  # the `default` tag's revision (default: the oldest)
    gateway_revision: Optional[DnsLabel] = None  # injects the east-west gateways (default: the oldest)

    @field_validator("repository")
    @classmethod
    def _https(cls, value: str) -> str:
        problem = repository_problem(value)
        if problem:
            raise ValueError(f"{show(value)} {problem}")
        return value


class PrivateLinkSettings(Model):
    # who may create an interface endpoint to a producer's endpoint service: `roles`, the consumer
    # clusters' deployer roles (their aws.assumeRoleArn, else meshbridge:aws.deployerRoleArn);
    # `accounts`, every principal of the consumer accounts (the account root)
    allowed_principals: Literal["roles", "accounts"] = "roles"


class MigrationSettings(Model):
    """Acknowledged risky changes of this `up` (docs/runbook.md, "Renaming a network" and "Switching
    the discovery model"); each names what it changes from, so a value left behind allows nothing else."""

    # cluster -> its previous network: the rename of that cluster's network is intended
    networks: dict[DnsLabel, DnsLabel] = Field(default_factory=dict, max_length=1000)
    # the previous mesh.model: the switch from it is intended
    from_model: Optional[Literal["imports", "multi-primary", "primary-remote"]] = None
    # the previous mesh.istio.revision (`default` for none): the change of revision is intended
    from_revision: Optional[DnsLabel] = None


class MeshSettings(Model):
    id: DnsLabel
    trust_domain: DnsName = "cluster.local"
    # local: clusters on one routed network (laptop, on-premises), no AWS resource at all
    connectivity: Literal["privatelink", "routed", "local"] = "privatelink"
    mtls: Literal["STRICT", "PERMISSIVE"] = "STRICT"
    import_namespace: DnsLabel = ISTIO_NAMESPACE
    istio: IstioSettings = IstioSettings()
    gateway_dns: Optional[DnsName] = None
    allowed_accounts: Optional[list[AccountId]] = None
    private_link: PrivateLinkSettings = PrivateLinkSettings()
    # how clusters learn of each other's services (docs/architecture.md, "Discovery models"):
    # explicit imports only, or Istio's endpoint discovery through remote secrets
    model: Literal["imports", "multi-primary", "primary-remote"] = "imports"
    # primary-remote: the cluster whose istiod controls every other cluster
    primary_cluster: Optional[DnsLabel] = None
    migration: MigrationSettings = MigrationSettings()

    @property
    def discovery(self) -> bool:
        """Istio's endpoint discovery (remote secrets, meshNetworks) is on."""
        return self.model != "imports"


# ------------------------------------------------------------------------------ meshbridge:ca


class RootSpec(Model):
    name: DnsLabel


# cert-manager's chart version meshbridge pins (the judge renders this version's chart from its Go module)
CERT_MANAGER_VERSION = "v1.19.1"
CERT_MANAGER_VERSION_RE = _full(r"v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?")
# the longest root certificate bundle accepted (one PEM certificate is 1-3 KB)
MAX_ROOT_PEM = 64 * 1024


class CertManagerIssuer(Model):
    """The cert-manager issuer that signs each cluster's intermediate: either the CA Issuer
    meshbridge renders in istio-system of every cluster (`caSecretName`: the Secret there holding
    the root's key pair, placed by you, never through Pulumi), or one that already exists in every
    cluster (`name`, `kind`, `group`: Vault, AWS Private CA, ...)."""

    ca_secret_name: Optional[DnsName] = None
    name: Optional[DnsName] = None
    kind: Optional[Annotated[str, AfterValidator(_check(_full(r"[A-Z][A-Za-z0-9]{0,62}"), "issuer kind"))]] = None
    group: DnsName = "cert-manager.io"


class CertManagerInstall(Model):
    """cert-manager's own chart on every cluster (`enabled: false`: it is installed already)."""

    enabled: bool = True
    version: Annotated[str, AfterValidator(_check(CERT_MANAGER_VERSION_RE, "cert-manager version such as v1.19.1"))] = (
        CERT_MANAGER_VERSION
    )
    repository: Annotated[str, AfterValidator(_text(1024))] = "https://charts.jetstack.io"
    namespace: DnsLabel = "cert-manager"


class CertManagerSettings(Model):
    # the shared root's certificate (public PEM): every cluster's ca.crt, the output rootCertificatePem
    root_certificate_pem: str = Field(min_length=1, max_length=MAX_ROOT_PEM)
    issuer: CertManagerIssuer
    install: CertManagerInstall = Field(default_factory=CertManagerInstall)


# aws-privateca-issuer's chart version meshbridge pins (the judge renders this version's chart from its Go module)
AWS_PCA_ISSUER_VERSION = "v1.11.0"


class AwsPcaIssuerInstall(Model):
    """aws-privateca-issuer's chart on every cluster, in cert-manager's namespace."""

    version: Annotated[str, AfterValidator(_check(CERT_MANAGER_VERSION_RE, "chart version such as v1.11.0"))] = (
        AWS_PCA_ISSUER_VERSION
    )
    repository: Annotated[str, AfterValidator(_text(1024))] = "https://cert-manager.github.io/aws-privateca-issuer"


class AwsPcaSettings(Model):
    """`ca.backend: aws-pca`: AWS Private CA holds the root; cert-manager and aws-privateca-issuer on
    every cluster have it sign the cluster's intermediate (docs/pki.md, "The aws-pca backend")."""

    # an existing CA (its root certificate then in rootCertificatePem); default: a root CA created here
    certificate_authority_arn: Optional[PcaArn] = None
    root_certificate_pem: Optional[str] = Field(None, min_length=1, max_length=MAX_ROOT_PEM)
    # the cluster whose AWS account and region hold the root CA meshbridge creates (default: the first)
    cluster: Optional[DnsLabel] = None
    cert_manager: CertManagerInstall = Field(default_factory=CertManagerInstall)
    issuer: AwsPcaIssuerInstall = Field(default_factory=AwsPcaIssuerInstall)


class CaSettings(Model):
    # who holds the CA keys: pulumi-tls (root and intermediates in Pulumi state, as secrets),
    # cert-manager (each cluster's intermediate issued in the cluster by the user's issuer) or
    # aws-pca (AWS Private CA holds the root; cert-manager has it sign each cluster's intermediate)
    backend: Literal["pulumi-tls", "cert-manager", "aws-pca"] = "pulumi-tls"
    cert_manager: Optional[CertManagerSettings] = None
    aws_pca: Optional[AwsPcaSettings] = None
    key_algorithm: Literal["RSA", "ECDSA"] = "RSA"
    rsa_bits: Annotated[Literal[2048, 3072, 4096], BeforeValidator(_strict_int)] = 4096
    ecdsa_curve: Literal["P256", "P384"] = "P256"
    organization: Annotated[str, AfterValidator(_text(64))] = Field("Istio", min_length=1, max_length=64)
    root_validity_hours: int = Field(87600, gt=0, le=MAX_TLS_HOURS)
    intermediate_validity_hours: int = Field(17520, gt=0, le=MAX_TLS_HOURS)
    early_renewal_hours: int = Field(720, ge=0, le=MAX_TLS_HOURS)
    protect_root: bool = True
    roots: list[RootSpec] = Field(default_factory=lambda: [RootSpec(name="root")], min_length=1)
    active_root: Optional[DnsLabel] = None

    @property
    def active(self) -> str:
        return self.active_root or self.roots[-1].name


# ------------------------------------------------------------------------ meshbridge:clusters


class KubernetesAccess(Model):
    context: Optional[Annotated[str, AfterValidator(_text(1024))]] = Field(None, min_length=1)
    # the EKS cluster behind `context`: the deploy workflows create the context with
    # `aws eks update-kubeconfig --name <eksCluster> --alias <context>` (default: the cluster's name)
    eks_cluster: Optional[Annotated[str, AfterValidator(_check(EKS_NAME_RE, "EKS cluster name"))]] = None
    kubeconfig: Optional[str] = Field(None, min_length=1, max_length=1024 * 1024)
    # pulumi-kubernetes renderYamlToDirectory: write the manifests there, reach no cluster (docs/e2e.md)
    render_yaml_to_directory: Optional[Annotated[str, AfterValidator(_text(1024))]] = Field(None, min_length=1)
    # pulumi-kubernetes deleteUnreachable: while the API server cannot be reached, a delete or a
    # refresh drops the cluster's objects from the state (a cluster that is gone: docs/runbook.md,
    # "Removing a cluster"); off, they fail and the objects stay in the state
    delete_unreachable: bool = False

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and "\x00" in value:
            raise ValueError("a kubeconfig is text; it contains a NUL character")
        return value


class VpcSettings(Model):
    id: Optional[VpcId] = None
    cidr: Optional[str] = None
    # every CIDR block of the VPC (primary first) where pods or nodes have addresses, e.g. a secondary
    # block for EKS custom networking; instead of `cidr`
    cidrs: Optional[Annotated[list[str], AfterValidator(_unique)]] = Field(None, min_length=1, max_length=5)
    subnet_ids: Optional[Annotated[list[SubnetId], AfterValidator(_unique)]] = Field(None, min_length=1)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        problem = cidr_problem(value) if len(value) <= 64 else "is not an IPv4 CIDR block"
        if problem:
            raise ValueError(f"{show(value)} {problem}")
        return value

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        for block in value or []:
            problem = cidr_problem(block) if len(block) <= 64 else "is not an IPv4 CIDR block"
            if problem:
                raise ValueError(f"{show(block)} {problem}")
        return value

    @property
    def blocks(self) -> Optional[list[str]]:
        """The VPC's CIDR blocks from `cidrs` or `cidr` (None: from the infraStack)."""
        return list(self.cidrs) if self.cidrs else ([self.cidr] if self.cidr else None)


class ApiServer(Model):
    """How other clusters' istiod reach this cluster's Kubernetes API server (discovery models)."""

    endpoint: Optional[str] = None  # https:// URL of the API server (EKS: the cluster endpoint)
    ca_data: Optional[str] = None  # base64 PEM of the API server's CA (EKS: certificateAuthority.data)
    # the endpoint is reachable from the other clusters' VPCs by other means than meshbridge's
    # connectivity (public endpoint with an allow-list, a routed private endpoint): required in
    # privatelink mode, which cannot carry API-server traffic
    reachable: bool = False
    # the generation of the reader token other istiods use (docs/runbook.md, "Discovery models:
    # rotating the reader token"): raising it creates the next token Secret, hands it to every
    # holder, and only then deletes the previous one
    token_generation: int = Field(default=1, ge=1, le=999_999)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        try:
            url = urllib.parse.urlsplit(value) if len(value) <= 2048 else None
        except ValueError:
            url = None
        host = (url.hostname or "") if url else ""
        if (
            url is None
            or url.scheme != "https"
            or not value.isascii()
            or not value.isprintable()
            or " " in value
            or "@" in url.netloc
            or not host
            or url.query
            or url.fragment
        ):
            raise ValueError(f"{show(value)} must be an https:// URL of the API server (no credentials, no query)")
        problem = url_address_problem(value)
        if problem:
            raise ValueError(f"{problem}: the istiod of another cluster reads this API server")
        return value

    @field_validator("ca_data")
    @classmethod
    def _ca(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/]{20,65536}={0,2}", value, re.ASCII):
            raise ValueError("must be the base64 encoded PEM of the API server's CA (as in a kubeconfig)")
        return value


class GatewaySettings(Model):
    """`clusters[].gateway` (local connectivity only): how the other clusters reach this cluster's
    east-west gateway (a Service of type LoadBalancer, e.g. MetalLB on kind)."""

    address: str  # IPv4 address (ServiceEntry resolution STATIC) or DNS name (resolution DNS)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        problem = gateway_address_problem(value)
        if problem:
            raise ValueError(f"{show(value)} {problem}")
        return value


class AwsSettings(Model):
    assume_role_arn: Optional[RoleArn] = None
    # the cluster's IAM OIDC provider (IRSA): ca.backend aws-pca gives aws-privateca-issuer a role through it
    oidc_provider_arn: Optional[OidcProviderArn] = None


class InfraStackOutputs(Model):
    """Which output of the upstream stack fills which value (value = output name there)."""

    vpc_id: Optional[OutputName] = None
    vpc_cidr: Optional[OutputName] = None
    subnet_ids: Optional[OutputName] = None
    kubeconfig: Optional[OutputName] = None
    account_id: Optional[OutputName] = None
    api_server_endpoint: Optional[OutputName] = None
    api_server_ca: Optional[OutputName] = None
    oidc_provider_arn: Optional[OutputName] = None


class InfraStack(Model):
    name: StackName
    outputs: InfraStackOutputs = InfraStackOutputs()


class IngressGatewaySettings(Model):
    """`clusters[].ingressGateway`: an Istio ingress gateway on this cluster (the gateway chart,
    release `istio-ingressgateway`, pods labelled istio=ingressgateway) behind a load balancer."""

    # the AWS Load Balancer Controller's NLB scheme; internet-facing only when asked (the policy
    # pack flags it); local connectivity: a plain LoadBalancer Service
    scheme: Literal["internal", "internet-facing"] = "internal"


class ClusterIstio(Model):
    """Istio settings of one cluster that differ from `meshbridge:mesh.istio`."""

    # this cluster's chart version instead of mesh.istio.version: an in-place upgrade (or its
    # rollback) of one cluster first (docs/runbook.md, "Upgrading Istio one cluster first")
    version: Optional[Version] = None
    # with mesh.istio.revisions: the revisions installed here (names of the mesh's; default all),
    # and this cluster's default tag and gateway revision (one cluster goes first)
    revisions: Optional[list[DnsLabel]] = Field(None, min_length=1, max_length=MAX_REVISIONS)
    default_revision: Optional[DnsLabel] = None
    gateway_revision: Optional[DnsLabel] = None


@dataclass(frozen=True)
class ClusterRevisions:
    """The control planes of one cluster in canary mode (mesh.istio.revisions), resolved."""

    installed: tuple[RevisionSpec, ...]  # in the mesh's order, oldest first
    default: str  # the `default` tag's revision
    gateway: str  # the east-west gateway's injector

    def version(self, name: str) -> str:
        return next(r.version for r in self.installed if r.name == name)

    @property
    def newest(self) -> RevisionSpec:
        return self.installed[-1]


class ClusterSpec(Model):
    name: DnsLabel
    network: DnsLabel
    region: Region
    zone: Optional[str] = None
    account_id: Optional[AccountId] = None
    labels: Labels = Field(default_factory=dict)
    kubernetes: KubernetesAccess = KubernetesAccess()
    vpc: VpcSettings = VpcSettings()
    aws: AwsSettings = AwsSettings()
    infra_stack: Optional[InfraStack] = None
    api_server: ApiServer = ApiServer()
    # local connectivity: the address of this cluster's east-west gateway (docs/local.md)
    gateway: Optional[GatewaySettings] = None
    istio: ClusterIstio = ClusterIstio()
    ingress_gateway: Optional[IngressGatewaySettings] = None

    def from_stack(self, key: str) -> Optional[str]:
        """The upstream output name that fills `key` (an InfraStackOutputs field), if any."""
        if self.infra_stack is None:
            return None
        return getattr(self.infra_stack.outputs, key)

    @property
    def kubeconfig_literal(self) -> bool:
        return self.kubernetes.kubeconfig is not None

    def istio_version(self, mesh: IstioSettings) -> str:
        """The Istio chart version this cluster runs: its own pin, else the mesh's."""
        return self.istio.version or mesh.version

    def istio_revisions(self, mesh: IstioSettings) -> Optional[ClusterRevisions]:
        """Canary mode (mesh.istio.revisions): this cluster's installed revisions, default tag and
        gateway revision; None in the single control plane mode. Assumes stacks/config/checks.py passed."""
        if not mesh.revisions:
            return None
        names = self.istio.revisions or [r.name for r in mesh.revisions]
        installed = tuple(r for r in mesh.revisions if r.name in names)
        # both move only when told: by default the oldest revision installed here has them
        oldest = installed[0].name if installed else mesh.revisions[0].name
        default = self.istio.default_revision or mesh.default_revision or oldest
        gateway = self.istio.gateway_revision or mesh.gateway_revision or oldest
        return ClusterRevisions(installed, default, gateway)


# ------------------------------------------------------------------------ meshbridge:services


class PortSpec(Model):
    port: int = Field(ge=1, le=65535)
    name: DnsLabel
    protocol: Literal["HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS"] = "TCP"
    # the container port behind the Service port: default: the port itself
    target_port: Optional[int] = Field(None, ge=1, le=65535)

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS

    @property
    def target(self) -> int:
        return self.target_port if self.target_port is not None else self.port


class PerPod(Model):
    replicas: int = Field(ge=1, le=1000)
    alias_prefix: str = ""

    @field_validator("alias_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not (len(value) <= 62 and DNS_LABEL_RE.match(value + "x")):
            raise ValueError(f"{show(value)} must be lower case letters, digits and '-' (it prefixes a DNS label)")
        return value


def _check_principals(value: list[str]) -> list[str]:
    """Each principal is `<namespace>/<serviceaccount>`, both DNS labels."""
    for principal in value:
        parts = principal.split("/")
        if len(parts) != 2 or not all(DNS_LABEL_RE.match(p) for p in parts):
            raise ValueError(f"principal {show(principal)} must be '<namespace>/<serviceaccount>'")
    return value


class ConsumerSpec(Model):
    cluster: str
    principals: Annotated[list[str], AfterValidator(_unique)] = Field(min_length=1)
    methods: Optional[Annotated[list[Literal[HTTP_METHODS]], AfterValidator(_unique)]] = None  # type: ignore[valid-type]
    paths: Optional[Annotated[list[str], AfterValidator(_unique)]] = None

    @field_validator("principals")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _check_principals(value)

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        for path in value or []:
            if not path.startswith("/") and path != "*":
                raise ValueError(f"path {show(path)} must start with '/'")
            if len(path) > 1024 or not re.fullmatch(r"[!-~]+", path, re.ASCII):
                raise ValueError(f"path {show(path)} must be printable ASCII without spaces (at most 1024)")
        return value

    @field_validator("methods", "paths")
    @classmethod
    def _not_empty(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        # an empty list would make an AuthorizationPolicy rule without that operation: every method/path
        if value is not None and not value:
            raise ValueError("an empty list would admit everything: list the allowed values or remove the key")
        return value


class LocalCallers(Model):
    """Callers inside the producer clusters admitted besides the consumers (docs/services.md, "Authorization").

    When `localCallers` is given, exactly what it lists is admitted (a missing key is `[]`); when it
    is absent, the default is every workload of the service's own namespace (`ServiceSpec.local_callers_or_default`).
    """

    namespaces: Annotated[list[DnsLabel], AfterValidator(_unique)] = Field(default_factory=list)
    principals: Annotated[list[str], AfterValidator(_unique)] = Field(default_factory=list)

    @field_validator("principals")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _check_principals(value)


def _http_path(value: str) -> str:
    if len(value) > 1024 or not HTTP_PATH_RE.match(value):
        raise ValueError(f"path {show(value)} must start with '/' and be printable ASCII without spaces (at most 1024)")
    return value


HttpPath = Annotated[str, AfterValidator(_http_path)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]


class HttpCheck(Model):
    """What a connectivity check asks on an HTTP port (docs/configuration.md, `meshbridge:verify`)."""

    path: HttpPath = "/"
    # only methods without side effects: the check runs on every `pulumi up` that changes the path
    method: Literal["GET", "HEAD", "OPTIONS"] = "GET"
    # None: any response that is not a connection failure or an Istio denial passes
    expect_status: Optional[Annotated[list[HttpStatus], AfterValidator(_unique)]] = Field(None, min_length=1)


class ServiceCheck(Model):
    """`services[].check`: the connectivity checks of one service (the defaults: `meshbridge:verify`)."""

    enabled: bool = True
    path: Optional[HttpPath] = None
    method: Optional[Literal["GET", "HEAD", "OPTIONS"]] = None
    expect_status: Optional[Annotated[list[HttpStatus], AfterValidator(_unique)]] = Field(None, min_length=1)


# --------------------------------------------------------------- services[].routing (typed routing)

# Envoy's retry conditions that Istio's webhook accepts in `retries.retryOn` (besides HTTP status
# codes): pkg/config/validation/validation.go `supportedRetryOnPolicies` of the pinned Istio
RETRY_ON = (
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)
# a request header name as a VirtualService match takes it: an RFC 7230 token in lower case (Envoy
# sees header names in lower case); pseudo-headers are `uri` and `method`
# the status codes Go's http.StatusText names (istiod accepts those in retryOn, no others)
HTTP_STATUS_CODES = frozenset(str(int(code)) for code in http.HTTPStatus)
HEADER_NAME_RE = _full(r"[a-z0-9!#$%&'*+.^_`|~-]{1,256}")
MAX_MATCH_VALUE = 1024
MAX_ROUTE_RULES = 64


def _duration(value: str) -> str:
    """A Go duration string as istiod takes it: whole milliseconds, at least 1ms."""
    nanos = duration_nanos(value) if isinstance(value, str) else None
    if nanos is None:
        raise ValueError(f"{show(value)} is not a duration with a unit, such as 100ms, 5s or 1m")
    if nanos > MAX_NANOS:
        raise ValueError(f"{show(value)} is longer than the longest duration (about 292 years)")
    if nanos < 10**6 or nanos % 10**6:
        raise ValueError(f"{show(value)}: istiod takes whole milliseconds, at least 1ms")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
# Istio's Percent: 0, or 0.0001 to 100 (pkg/config/validation validatePercentage)
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


def _percent(value: float) -> float:
    if 0 < value < 0.0001:
        raise ValueError(f"{show(value)} is neither 0 nor in 0.0001..100 (Istio's smallest percentage)")
    return value


class StringMatchSpec(Model):
    """One of `exact` or `prefix` (Istio's StringMatch; regular expressions are not offered)."""

    exact: Optional[Annotated[str, AfterValidator(_text(MAX_MATCH_VALUE))]] = None
    prefix: Optional[Annotated[str, Field(min_length=1), AfterValidator(_text(MAX_MATCH_VALUE))]] = None

    @model_validator(mode="after")
    def _whole(self) -> Any:
        if (self.exact is None) == (self.prefix is None):
            raise ValueError("give exactly one of exact or prefix")
        return self

    def istio(self) -> dict[str, str]:
        return {"exact": self.exact} if self.exact is not None else {"prefix": str(self.prefix)}

    @property
    def example(self) -> str:
        """A value this match accepts (the judge sends it)."""
        return self.exact if self.exact is not None else str(self.prefix)


def _header_names(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if not HEADER_NAME_RE.match(name):
            raise ValueError(
                f"header name {show(name)} must be a lower case HTTP header name (letters, digits, '-' and "
                "RFC 7230 token characters; use `uri` and `method` for the path and the method)"
            )
    return value


class RouteMatchSpec(Model):
    """Istio's HTTPMatchRequest, typed: every key given must match (AND)."""

    uri: Optional[StringMatchSpec] = None
    headers: Optional[
        Annotated[dict[str, StringMatchSpec], Field(min_length=1, max_length=16), AfterValidator(_header_names)]
    ] = None
    method: Optional[Literal[HTTP_METHODS]] = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _whole(self) -> Any:
        if self.uri is None and self.headers is None and self.method is None:
            raise ValueError("give at least one of uri, headers or method (a rule without `match` matches everything)")
        if self.uri is not None and not self.uri.example.startswith("/"):
            raise ValueError(f"uri: {show(self.uri.example)} must start with '/'")
        return self

    def istio(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.uri is not None:
            out["uri"] = self.uri.istio()
        if self.headers is not None:
            out["headers"] = {k: v.istio() for k, v in self.headers.items()}
        if self.method is not None:
            out["method"] = {"exact": self.method}
        return out


class RetrySpec(Model):
    attempts: int = Field(ge=0, le=100)
    per_try_timeout: Optional[Duration] = None
    retry_on: Optional[Annotated[str, AfterValidator(_text(1024))]] = None

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, value: Optional[str]) -> Optional[str]:
        for policy in (value or "").split(","):
            if policy not in RETRY_ON and policy not in HTTP_STATUS_CODES:
                raise ValueError(
                    f"{show(policy)} is not a retry condition Istio accepts (a comma-separated list of "
                    f"{', '.join(RETRY_ON)} or HTTP status codes)"
                )
        return value

    @model_validator(mode="after")
    def _whole(self) -> Any:
        if self.attempts == 0 and (self.per_try_timeout is not None or self.retry_on is not None):
            raise ValueError("attempts 0 turns retries off: perTryTimeout and retryOn would be refused by istiod")
        return self


class FaultDelay(Model):
    fixed_delay: Duration
    percent: Annotated[Percent, AfterValidator(_percent)]


class FaultAbort(Model):
    http_status: int = Field(ge=200, le=599)
    percent: Annotated[Percent, AfterValidator(_percent)]


class FaultSpec(Model):
    delay: Optional[FaultDelay] = None
    abort: Optional[FaultAbort] = None

    @model_validator(mode="after")
    def _whole(self) -> Any:
        if self.delay is None and self.abort is None:
            raise ValueError("give a delay, an abort or both")
        return self


class MirrorSpec(Model):
    cluster: str
    percent: Annotated[Percent, AfterValidator(_percent)] = 100.0


class RouteRuleSpec(Model):
    """One rule of `services[].routing`, rendered as one http route of the consumer's VirtualService."""

    name: Optional[DnsLabel] = None
    match: Optional[Annotated[list[RouteMatchSpec], Field(min_length=1, max_length=16)]] = None
    # producer cluster -> share of the traffic in percent (adding up to 100)
    weights: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(min_length=1, max_length=64)
    timeout: Optional[Duration] = None
    retries: Optional[RetrySpec] = None
    fault: Optional[FaultSpec] = None
    mirror: Optional[MirrorSpec] = None


class ServiceSpec(Model):
    name: ServiceName
    namespace: DnsLabel
    exported_from: list[str] = Field(min_length=1)
    service_account: Optional[DnsLabel] = None
    # non-empty: an empty selector would put the AuthorizationPolicy on every workload of the namespace
    selector: Optional[Labels] = Field(None, min_length=1)
    ports: list[PortSpec] = Field(min_length=1)
    alias: Optional[DnsName] = None
    per_pod: Optional[PerPod] = None
    consumers: list[ConsumerSpec] = Field(min_length=1)
    traffic_policy: Optional[dict[str, Any]] = None
    local_callers: Optional[LocalCallers] = None
    # explicit: ServiceEntry + DestinationRule in every consumer; discovery: the consumers' istiod
    # discovers the producers' endpoints through the remote secrets (mesh.model multi-primary or
    # primary-remote), the producers still pass the host and authorize the consumers
    import_mode: Literal["explicit", "discovery"] = "explicit"
    check: Optional[ServiceCheck] = None
    # the meshbridge:workloads group (VMs) behind the service: meshbridge renders its Kubernetes Service
    workload_group: Optional[DnsLabel] = None
    # typed routing between the producers: a VirtualService per consumer, DestinationRule subsets by cluster
    routing: Optional[Annotated[list[RouteRuleSpec], Field(min_length=1, max_length=MAX_ROUTE_RULES)]] = None

    @property
    def key(self) -> str:
        """The service's identity: `<namespace>/<name>` (two `api` in two namespaces are two services)."""
        return f"{self.namespace}/{self.name}"

    @property
    def local_callers_or_default(self) -> LocalCallers:
        """`localCallers`, or the documented default: every workload of the service's own namespace."""
        if self.local_callers is not None:
            return self.local_callers
        return LocalCallers(namespaces=[self.namespace])

    @property
    def local_twin(self) -> str:
        """Name of the headless Service a multi-producer service gets in the producers that also
        consume it: the local endpoint of the failover host, one DNS answer per ready pod."""
        return f"{self.name}{LOCAL_TWIN_SUFFIX}"

    @property
    def sa(self) -> str:
        return self.service_account or self.name

    @property
    def workload_selector(self) -> dict[str, str]:
        return dict(self.selector) if self.selector else {"app": self.name}

    def fqdn(self, domain: str = CLUSTER_DOMAIN) -> str:
        """The real FQDN of the service in its producer clusters."""
        return service_fqdn(self.name, self.namespace, domain)

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
                service_fqdn(f"{prefix}{self.name}-{i}", self.namespace),
                service_fqdn(f"{self.name}-{i}", self.namespace),
            )
            for i in range(self.per_pod.replicas)
        ]

    def imported_hosts(self) -> list[tuple[str, str]]:
        """(consumer-side host, real FQDN) of every imported host: the service host, then one per pod.

        A per-pod service imports its service host only under an `alias`: the consumer of a
        replicated StatefulSet runs the same Service, and Istio prefers its own Service over a
        ServiceEntry of the same host (the import would be silently dead)."""
        service = [] if self.per_pod is not None and not self.alias else [(self.host, self.fqdn())]
        return service + self.pod_hosts()

    @property
    def service_host_imported(self) -> bool:
        """Whether the consumers import the service host itself (a per-pod service without an alias
        imports only its per-pod hosts)."""
        return any(real == self.fqdn() for _, real in self.imported_hosts())

    def consumer_hosts(self) -> list[str]:
        return [alias for alias, _ in self.imported_hosts()]


# ----------------------------------------------------------------------- meshbridge:workloads

# WorkloadEntries per workload group (one per VM or host)
MAX_INSTANCES = 100


class WorkloadInstance(Model):
    """One VM or host: its address in the cluster's VPC, its zone, labels of its own."""

    address: Annotated[str, AfterValidator(_ipv4_address)]
    zone: Optional[Annotated[str, AfterValidator(_text(64))]] = None
    labels: Optional[Labels] = None


class WorkloadSpec(Model):
    """VMs or hosts that join the mesh through a cluster's istiod (mesh expansion): a WorkloadGroup
    and one WorkloadEntry per instance in that cluster, backing a service of meshbridge:services."""

    name: DnsLabel
    cluster: str
    namespace: DnsLabel
    service_account: Optional[DnsLabel] = None
    # what Services and AuthorizationPolicies select (non-empty: the group's workloads are found by it)
    labels: Labels = Field(min_length=1)
    instances: list[WorkloadInstance] = Field(min_length=1, max_length=MAX_INSTANCES)

    @property
    def sa(self) -> str:
        return self.service_account or self.name

    def entry_name(self, instance: WorkloadInstance) -> str:
        """The WorkloadEntry of one instance: stable by address, whatever the list order."""
        return f"{self.name}-{instance.address.replace('.', '-')}"


# ---------------------------------------------------------------------- meshbridge:distribute


class DistributeSpec(Model):
    name: DnsLabel
    cluster_selector: Labels = Field(min_length=1)
    manifests: Optional[list[dict[str, Any]]] = None
    file: Optional[Annotated[str, AfterValidator(_text(4096))]] = None
    # privileged objects the entry may hold (stacks/config/exposure.py): bindings to cluster-admin,
    # admission webhooks, objects in kube-system
    acknowledge: list[Literal["clusterAdmin", "webhooks", "kubeSystem"]] = Field(default_factory=list)


# -------------------------------------------------------------------------- meshbridge:verify


class ConnectivityCheckSettings(Model):
    """`verify.connectivity`: a Job per (consumer cluster, imported host, port) that `pulumi up` waits for."""

    enabled: bool = False
    image: PinnedImage = CHECK_IMAGE
    # how long a check keeps trying before it fails (the mesh converges: endpoints, DNS, certificates)
    retry_seconds: int = Field(300, ge=10, le=3600)
    interval_seconds: int = Field(5, ge=1, le=60)
    ttl_seconds_after_finished: int = Field(3600, ge=60, le=7 * 86400)
    http: HttpCheck = HttpCheck()


class VerifySettings(Model):
    connectivity: ConnectivityCheckSettings = ConnectivityCheckSettings()


# ------------------------------------------------------------------- meshbridge:observability


class TracingSettings(Model):
    provider: Literal["opentelemetry", "zipkin"]
    # the collector's Service in every cluster (`<name>.<namespace>.svc.cluster.local`, run by the team)
    service: DnsName
    port: Optional[int] = Field(None, ge=1, le=65535)
    sampling_percentage: float = Field(1.0, ge=0.0, le=100.0, allow_inf_nan=False)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if is_ipv4(value) or address_problem(value):
            raise ValueError(
                f"{show(value)} must be the collector's Service name in the cluster "
                "(<name>.<namespace>.svc.cluster.local), not an address"
            )
        return value

    @property
    def collector_port(self) -> int:
        return self.port if self.port is not None else TRACING_PORTS[self.provider]


class CentralPrometheus(Model):
    """A Prometheus that sees every cluster: each cluster's Prometheus remote-writes to `url`, or the
    central one federates each cluster's Prometheus at `targets[<cluster>]` (`host:port`)."""

    mode: Literal["remoteWrite", "federation"]
    url: Optional[str] = None
    targets: Optional[dict[str, Annotated[str, AfterValidator(_check(HOST_PORT_RE, "host:port"))]]] = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (len(value) > 2048 or not HTTPS_URL_RE.match(value)):
            raise ValueError(f"{show(value)} must be an https:// URL in printable ASCII without spaces")
        problem = url_address_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"{problem}: every cluster's Prometheus writes to this URL")
        return value

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: Optional[dict[str, str]]) -> Optional[dict[str, str]]:
        for cluster, target in (value or {}).items():
            problem = host_port_problem(target)
            if problem:
                raise ValueError(f"{cluster}: {show(target)}: {problem}")
        return value


class PrometheusSettings(Model):
    # the external label that names the cluster (its value: the cluster name, Istio's clusterName)
    cluster_label: Annotated[str, AfterValidator(_check(PROM_LABEL_RE, "Prometheus label name"))] = "cluster"
    external_labels: dict[
        Annotated[str, AfterValidator(_check(PROM_LABEL_RE, "Prometheus label name"))],
        Annotated[str, AfterValidator(_text(256))],
    ] = Field(default_factory=dict)
    central: Optional[CentralPrometheus] = None


class ObservabilitySettings(Model):
    access_logging: bool = False
    tracing: Optional[TracingSettings] = None
    prometheus: PrometheusSettings = PrometheusSettings()


# ------------------------------------------------------------------------------ whole config


class DeployerSettings(Model):
    """`meshbridge:aws`: the identity `pulumi up` runs as (the CI role of the deploy workflow)."""

    # the account of the deployer role: a cluster in any other account needs aws.assumeRoleArn
    deployer_account_id: Optional[AccountId] = None
    # the deployer role itself: the endpoint services' allowed principal for a consumer cluster that
    # is deployed without aws.assumeRoleArn (mesh.privateLink.allowedPrincipals roles)
    deployer_role_arn: Optional[RoleArn] = None


class MeshConfig(Model):
    """The validated configuration of one stack."""

    mesh: MeshSettings
    ca: CaSettings
    clusters: list[ClusterSpec]
    services: list[ServiceSpec]
    distribute: list[DistributeSpec]
    workloads: list[WorkloadSpec] = Field(default_factory=list)
    verify: VerifySettings = VerifySettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    aws: DeployerSettings = DeployerSettings()
    # manifests of `distribute` entries with `file`, loaded and parsed (same order as distribute)
    distribute_manifests: list[list[dict[str, Any]]] = Field(default_factory=list)

    def cluster(self, name: str) -> ClusterSpec:
        return self._clusters_by_name[name]

    @cached_property
    def _clusters_by_name(self) -> dict[str, ClusterSpec]:
        return {c.name: c for c in reversed(self.clusters)}  # the first of a name wins, as next() did

    def producers(self) -> list[str]:
        """Clusters that export at least one service, in cluster order."""
        names = {p for s in self.services for p in s.exported_from}
        return [c.name for c in self.clusters if c.name in names]

    def remote_producers(self, service: ServiceSpec, consumer: str) -> list[str]:
        return [p for p in service.exported_from if p != consumer]

    def pairs(self) -> list[tuple[str, str]]:
        """(consumer, producer) pairs that need a private link, from the services' consumers; with
        endpoint discovery (mesh.model multi-primary or primary-remote) every ordered pair."""
        if self.mesh.discovery:
            names = [c.name for c in self.clusters]
            return [(a, b) for a in names for b in names if a != b]
        found = {(c.cluster, p) for s in self.services for c in s.consumers for p in s.exported_from if p != c.cluster}
        order = {c.name: i for i, c in enumerate(self.clusters)}
        return sorted(found, key=lambda pair: (order[pair[0]], order[pair[1]]))

    def remote_clusters(self) -> list[str]:
        """primary-remote: the clusters without a control plane of their own (cluster order)."""
        if self.mesh.model != "primary-remote":
            return []
        return [c.name for c in self.clusters if c.name != self.mesh.primary_cluster]

    def exposes_istiod(self, cluster: str) -> bool:
        """Whether `cluster`'s east-west gateway (and NLB) carries istiod's ports: primary-remote's
        primary (the remotes' proxies and API servers), or a cluster whose VMs join the mesh
        (meshbridge:workloads: their proxies connect to istiod there)."""
        primary = self.mesh.model == "primary-remote" and cluster == self.mesh.primary_cluster
        return primary or any(w.cluster == cluster for w in self.workloads)

    def istiod_clients(self, cluster: str) -> list[str]:
        """The VM addresses of `cluster`'s workload groups (each reaches istiod on its NLB), sorted."""
        return sorted({i.address for w in self.workloads if w.cluster == cluster for i in w.instances})

    def config_cluster(self, name: str) -> str:
        """The cluster whose API server holds `name`'s Istio configuration (the objects the istiod
        serving `name` reads): the primary for a remote of primary-remote, `name` itself otherwise."""
        if name in self.remote_clusters():
            return str(self.mesh.primary_cluster)
        return name

    def secret_holders(self, target: str) -> list[str]:
        """The clusters whose istiod reads `target`'s API server (hold its remote secret): every other
        cluster in multi-primary, the primary for a remote in primary-remote, none otherwise."""
        if self.mesh.model == "multi-primary":
            return [c.name for c in self.clusters if c.name != target]
        if self.mesh.model == "primary-remote" and target in self.remote_clusters():
            return [str(self.mesh.primary_cluster)]
        return []

    def read_clusters(self) -> list[str]:
        """Clusters whose API server another cluster's istiod reads (each gets a reader account)."""
        return [c.name for c in self.clusters if self.secret_holders(c.name)]

    def exported_hosts(self, cluster: str) -> list[str]:
        """Real FQDNs the cluster's east-west gateway must pass through according to the configuration
        (sorted). The program builds the gateway from what its exports export
        (`stacks/services.py`, `Exports.hosts_by_cluster`); tests compare the two."""
        hosts: set[str] = set()
        for s in self.services:
            if cluster in s.exported_from:
                # only what some consumer imports (least exposure): a per-pod service without an
                # alias passes its per-pod hosts only
                hosts.update(real for _, real in s.imported_hosts())
        return sorted(hosts)

    def selected_clusters(self, index: int) -> list[str]:
        selector = self.distribute[index].cluster_selector
        return [c.name for c in self.clusters if all(c.labels.get(k) == v for k, v in selector.items())]
