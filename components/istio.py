"""Istio on one cluster: the control plane (base -> istiod, mesh-wide mTLS) and the east-west gateway.

Install order per cluster (docs/architecture.md, "Istio install order"):

    istio-system Namespace -> cacerts Secret -> base (CRDs) -> istiod -> istio-eastwestgateway
                                                                       -> cross-network-gateway

`base` only needs the namespace; istiod needs base (CRDs, webhook config) and the `cacerts` Secret
(istiod self-signs when the secret is absent at start and never switches later); the gateway needs
istiod (its pods are injected by it); the Gateway object needs the gateway pods it selects. Nothing
depends on more than it needs, and nothing crosses clusters: every cluster installs in parallel.

Helm releases are `components.helm.HelmChart` (rendered client-side like `helm template`, one
resource per object: per-object previews, CRDs applied first, and a cluster whose API server is
down is skipped instead of stopping every cluster's `up`); the Istio charts use no hooks and no
`lookup`, so nothing is lost. A dependent waits for a chart through its `ready`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import (
    CLUSTER_DOMAIN,
    EASTWEST_RELEASE,
    GATEWAY_DRAIN_SECONDS,
    GATEWAY_GRACE_SECONDS,
    GATEWAY_PORT,
    HEALTH_PORT,
    INGRESS_RELEASE,
    INGRESS_SELECTOR,
    ISTIO_NAMESPACE,
    MANAGED_BY,
    service_fqdn,
)
from components.helm import V4_CHART_TYPE, HelmChart, HelmChartArgs, chart_source
from components.options import Dependency, child_opts

BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
CROSS_NETWORK_GATEWAY = "cross-network-gateway"
# the `istio` label of the east-west gateway pods; the Gateway object selects on it
EASTWEST_SELECTOR = {"istio": "eastwestgateway"}
# ports of the east-west gateway Service (gateway chart `networkGatewayPorts`)
NETWORK_GATEWAY_PORTS = {"status-port": HEALTH_PORT, "tls": GATEWAY_PORT, "tls-istiod": 15012, "tls-webhook": 15017}
MTLS_MODES = ("STRICT", "PERMISSIVE")
# a pod's ProxyConfig overrides (the gateway's drain duration)
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"


def eastwest_service_host(domain: str = CLUSTER_DOMAIN) -> str:
    """In-cluster name of the east-west gateway Service (the NLB target group fronts its pods)."""
    return service_fqdn(EASTWEST_RELEASE, ISTIO_NAMESPACE, domain)


def istiod_release(revision: Optional[str]) -> str:
    """Helm release (and Service) name of istiod: `istiod`, or `istiod-<revision>`."""
    return f"{ISTIOD_RELEASE}-{revision}" if revision else ISTIOD_RELEASE


def _chart(
    name: str,
    release: str,
    chart: str,
    args: IstioControlPlaneArgs | EastWestGatewayArgs | IngressGatewayArgs,
    values: Any,
    opts: pulumi.ResourceOptions,
    version: Optional[str] = None,
    only: tuple[str, ...] = (),
    omit: tuple[str, ...] = (),
) -> HelmChart:
    """One Istio chart (`base`, `istiod`, `gateway`) of `args.repository`: an https:// repository,
    an oci:// registry or a local folder of charts (mesh.istio.chartDirectory: `<folder>/<chart>`);
    `version`: other than `args.version` (a revision's); `only`/`omit`: `HelmChartArgs`'."""
    source, repository = chart_source(args.repository, chart)
    return HelmChart(
        name,
        HelmChartArgs(
            release=release,
            namespace=ISTIO_NAMESPACE,
            chart=source,
            repository=repository,
            version=version or args.version,
            values=values,
            provider=args.provider,
            only=only,
            omit=omit,
        ),
        opts=opts,
    )


# ------------------------------------------------------------------------------ control plane


@dataclass(frozen=True)
class IstioControlPlaneArgs:
    """Istio's control plane on one cluster."""

    cluster: str  # Istio clusterName (global.multiCluster.clusterName)
    network: str  # global.network, same as the istio-system namespace label
    mesh_id: str  # global.meshID: the same on every cluster of the mesh
    trust_domain: str  # meshConfig.trustDomain: one for the mesh (SPIFFE IDs, principals)
    version: str  # chart version (x.y.z)
    repository: str  # https:// chart repository, oci:// registry or a local folder of charts
    mtls_mode: str  # mesh-wide PeerAuthentication mode: STRICT | PERMISSIVE
    provider: k8s.Provider  # the cluster's kubernetes provider
    namespace: k8s.core.v1.Namespace  # istio-system, labelled with the network
    cacerts: pulumi.Resource  # the plugged-in CA `cacerts` Secret in istio-system
    revision: Optional[str] = None  # control plane revision (canary upgrades)
    multi_root: bool = False  # several roots trusted (root rotation): ISTIO_MULTIROOT_MESH
    # meshConfig.extensionProviders added to Istio's defaults (a tracing collector: components/telemetry.py)
    extension_providers: tuple[Mapping[str, Any], ...] = ()
    # endpoint discovery: global.meshNetworks, network -> {endpoints: [{fromRegistry}], gateways: [...]}
    mesh_networks: Optional[pulumi.Input[Mapping[str, Any]]] = None
    # primary-remote's primary: global.externalIstiod (it injects and configures the remotes)
    external_istiod: bool = False
    # meshConfig.serviceSettings (multi-primary's sameness: `cluster_local_settings`)
    service_settings: tuple[Mapping[str, Any], ...] = ()
    # primary-remote's remote: Istio's remote profile, with the primary's east-west gateway address
    # as this cluster reaches it (global.remotePilotAddress; istiod then runs in the primary only)
    remote_pilot_address: Optional[pulumi.Input[str]] = None
    # what this cluster's Istio objects wait for besides its own istiod: for a remote of
    # primary-remote, the primary's istiod and the path to it (its validation webhook is the primary's)
    after: tuple[Dependency, ...] = ()
    # canary upgrades: the control planes side by side, (name, version) oldest first (`default`: the
    # unrevisioned istiod), and the `default` tag's revision; then `revision` is not given and
    # `version` is the default tag revision's
    revisions: tuple[tuple[str, str], ...] = ()
    default_revision: Optional[str] = None

    def __post_init__(self) -> None:
        if self.external_istiod and self.remote_pilot_address is not None:
            raise ValueError(f"{self.cluster}: a remote cluster has no istiod of its own to control others")
        if self.revisions:
            names = [n for n, _ in self.revisions]
            if self.revision is not None or self.default_revision not in names or len(set(names)) != len(names):
                raise ValueError(f"{self.cluster}: revisions {names} need their default tag among them, no `revision`")
            if self.remote_pilot_address is not None or self.external_istiod:
                raise ValueError(f"{self.cluster}: canary revisions are not supported with primary-remote")
        if self.mtls_mode not in MTLS_MODES:
            raise ValueError(f"mtls_mode {self.mtls_mode!r} is not one of {', '.join(MTLS_MODES)}")


# the validating webhooks fail closed from their first apply (base's `istiod-default-validator`, which
# validates every Istio object without `istio.io/rev` such as meshbridge's, and istiod's own): the
# charts render `Ignore` on an install, which meshbridge's releases (server-side apply, always an install)
# would re-apply over istiod's run-time `Fail` on every update
VALIDATION = {"validationFailurePolicy": "Fail"}


def base_values(revision: Optional[str], remote: bool = False) -> dict[str, Any]:
    """Values of the `base` chart: the default validating webhook fails closed and points at the
    revision; a remote cluster of primary-remote installs it with Istio's remote profile."""
    values: dict[str, Any] = {"base": dict(VALIDATION)}
    if revision:
        values["defaultRevision"] = revision
    if remote:
        values["profile"] = REMOTE_PROFILE
    return values


CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def retain_crds(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """Transform of the base chart: its CustomResourceDefinitions stay in the cluster when the chart
    is deleted (a cluster removed from the stack, `pulumi destroy`): deleting a CRD deletes every
    object of its kind, other teams' VirtualServices and AuthorizationPolicies included."""
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


REMOTE_PROFILE = "remote"
# Istio's name for the unrevisioned control plane (release and Service `istiod`)
UNREVISIONED = "default"
DEFAULT_TAG = "default"
# the objects of the istiod chart that make a revision tag (its revision-tags templates): what
# `helm template istiod -s templates/revision-tags-mwc.yaml` gives, and the tag's Service
TAG_OBJECTS = (
    f"MutatingWebhookConfiguration/istio-revision-tag-{DEFAULT_TAG}",
    f"Service/istiod-revision-tag-{DEFAULT_TAG}",
)
# the unrevisioned istiod's injection webhook: it serves `istio-injection=enabled` like the default
# tag, so it goes while the tag points at another revision (both would inject the same pods)
UNREVISIONED_INJECTOR = "MutatingWebhookConfiguration/istio-sidecar-injector"


def _one_revision(args: IstioControlPlaneArgs, revision: Optional[str], version: str) -> IstioControlPlaneArgs:
    """The args of one revision's istiod (its values), out of a canary mode's."""
    return replace(args, revision=revision, version=version, revisions=(), default_revision=None)


def as_revision(name: str) -> Optional[str]:
    """The chart's `revision` value of a revision name (none for the unrevisioned `default`)."""
    return None if name == UNREVISIONED else name


def injection_path(cluster: str, network: str) -> str:
    """The primary istiod's injection path for a remote cluster's pods (cluster and network in the URL)."""
    return f"/inject/cluster/{cluster}/net/{network}"


def cluster_local_settings(exported: Sequence[str], domain: str = CLUSTER_DOMAIN) -> tuple[dict[str, Any], ...]:
    """meshConfig.serviceSettings that make every Kubernetes Service cluster-local except `exported`.

    With endpoint discovery istiod merges the endpoints of every Service of the same
    `<name>.<namespace>` in all the clusters it reads (Istio's namespace sameness): an undeclared
    Service of that name in a new cluster would get traffic, through a gateway that has no route for
    it. Istio picks the most specific host of serviceSettings (pilot/pkg/model/cluster_local.go):
    `*.svc.<domain>` cluster-local, each exported real FQDN (an exact host) global again."""
    settings: list[dict[str, Any]] = [{"settings": {"clusterLocal": True}, "hosts": [f"*.svc.{domain}"]}]
    if exported:
        settings.append({"settings": {"clusterLocal": False}, "hosts": sorted(set(exported))})
    return tuple(settings)


def istiod_values(args: IstioControlPlaneArgs) -> dict[str, Any]:
    """Values of the `istiod` chart (keys exist in the chart's values.yaml; meshConfig is MeshConfig)."""
    values: dict[str, Any] = {
        "global": {
            "meshID": args.mesh_id,
            "multiCluster": {"clusterName": args.cluster},
            "network": args.network,
        },
        "meshConfig": {
            "trustDomain": args.trust_domain,
            "defaultConfig": {
                "proxyMetadata": {
                    # the sidecar answers DNS for ServiceEntry hosts (imported services have no
                    # Kubernetes Service in the consumer cluster) with the address istiod allocated
                    # (PILOT_ENABLE_IP_AUTOALLOCATE, on by default: each ServiceEntry's status), so
                    # TCP services on one port stay apart; ISTIO_META_DNS_AUTO_ALLOCATE, the proxy's
                    # own allocation, is deprecated in 1.30 and not set (docs/istio.md)
                    "ISTIO_META_DNS_CAPTURE": "true",
                }
            },
        },
    }
    # the validating webhook starts as Ignore and istiod flips it to Fail once ready; under
    # server-side apply (our charts) every update would flip it back: start at Fail (the
    # chart's own advice in its values.yaml). Istio objects therefore wait for istiod.
    values["base"] = dict(VALIDATION)
    if args.revision:
        values["revision"] = args.revision
    if args.multi_root:
        # istiod accepts workload certificates chained to any root of the root-cert.pem bundle
        values["env"] = {"ISTIO_MULTIROOT_MESH": "true"}
    if args.extension_providers:
        # Istio merges these by name into its default providers (envoy, prometheus, ...)
        values["meshConfig"]["extensionProviders"] = [dict(p) for p in args.extension_providers]
    if args.service_settings:
        # which hosts' endpoints are merged across the clusters istiod reads (most specific host wins)
        values["meshConfig"]["serviceSettings"] = [dict(s) for s in args.service_settings]
    if args.mesh_networks is not None:
        # private NLBs are not discoverable from the gateway Service: every network's gateway address
        values["global"]["meshNetworks"] = args.mesh_networks
    if args.external_istiod:
        values["global"]["externalIstiod"] = True
    if args.remote_pilot_address is not None:
        # no istiod here: the `istiod` Service is an ExternalName of the primary's east-west gateway,
        # the injection and validation webhooks call the primary through it
        values["profile"] = REMOTE_PROFILE
        values["global"]["remotePilotAddress"] = args.remote_pilot_address
        values["istiodRemote"] = {"injectionPath": injection_path(args.cluster, args.network)}
    return values


class IstioControlPlane(pulumi.ComponentResource):
    """base -> istiod on one cluster, and the mesh-wide PeerAuthentication."""

    base: HelmChart
    istiod: HelmChart
    peer_authentication: k8s.apiextensions.CustomResource
    # what an Istio object of this cluster waits for: istiod (CRDs from base, the validation
    # webhook), and for a remote of primary-remote the primary's istiod path
    ready: list[Dependency]
    istiod_service: str
    revision: Optional[str]
    version: str

    def __init__(self, name: str, args: IstioControlPlaneArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:istio:IstioControlPlane", name, None, opts)
        self.args = args
        # the default tag's revision (the single mode's `revision`) and its version
        self.revision = as_revision(str(args.default_revision)) if args.revisions else args.revision
        self.version = args.version
        self.istiod_service = istiod_release(self.revision)
        c = args.cluster

        child = partial(child_opts, self, args.provider)
        revisions = args.revisions or ((args.revision or UNREVISIONED, args.version),)
        default = args.default_revision if args.revisions else revisions[0][0]
        # the default validating webhook (base's defaultRevision) follows the default tag
        validator = as_revision(str(default))

        # CRDs, cluster roles and the default validating webhook; needs only the namespace. With
        # several revisions the CRDs are the newest's (Istio's canary upgrade: CRDs first)
        self.base = _chart(
            f"{c}-istio-base",
            BASE_RELEASE,
            "base",
            args,
            base_values(validator, remote=args.remote_pilot_address is not None),
            child(depends_on=[args.namespace], transforms=[retain_crds]),
            version=revisions[-1][1],
        )
        # istiod must find `cacerts` at its first start, or it self-signs for good. One release per
        # revision, the revision in the name (the unrevisioned one is `<c>-istiod`). A single
        # revisioned control plane was `<c>-istiod` before revisions had names of their own: the
        # alias keeps its URNs (canary mode has none: stacks/migration.py wants an `up` in between)
        self.istiods: dict[str, HelmChart] = {}
        for rev_name, rev_version in revisions:
            rev = as_revision(rev_name)
            resource = f"{c}-istiod" if rev is None else f"{c}-istiod-{rev}"
            renamed = rev is not None and not args.revisions
            # deployed as a helm.sh/v4 Chart named `<c>-istiod` (both changed: one alias for both)
            aliases = [pulumi.Alias(name=f"{c}-istiod", type_=V4_CHART_TYPE), pulumi.Alias(name=f"{c}-istiod")]
            aliases = aliases if renamed else []
            moved = rev is None and validator is not None  # the default tag points elsewhere
            self.istiods[rev_name] = _chart(
                resource,
                istiod_release(rev),
                "istiod",
                args,
                istiod_values(_one_revision(args, rev, rev_version)),
                child(depends_on=[args.cacerts, self.base.ready], aliases=aliases),
                version=rev_version,
                omit=(UNREVISIONED_INJECTOR,) if moved else (),
            )
        self.istiod = self.istiods[str(default)]
        # the `default` tag (namespaces with istio-injection=enabled or istio.io/rev=default, pods
        # with sidecar.istio.io/inject=true): its own resource, moved by changing the revision it
        # renders for (one `up` of its own: stacks/migration.py)
        self.tag: Optional[HelmChart] = None
        if args.revisions and validator is not None:
            tag_values = {
                **istiod_values(_one_revision(args, validator, self.version)),
                "revisionTags": [DEFAULT_TAG],
            }
            self.tag = _chart(
                f"{c}-istio-revision-tag-{DEFAULT_TAG}",
                f"istio-revision-tag-{DEFAULT_TAG}",
                "istiod",
                args,
                tag_values,
                child(depends_on=[self.istiod.ready]),
                version=self.version,
                only=TAG_OBJECTS,
            )
        tag = [self.tag.ready] if self.tag is not None else []
        # mesh-wide: a PeerAuthentication named `default` in the root namespace; it needs the CRD
        # and, the validation webhook failing closed (validationFailurePolicy: Fail), a running istiod
        self.peer_authentication = k8s.apiextensions.CustomResource(
            f"{c}-mesh-peer-authentication",
            api_version="security.istio.io/v1",
            kind="PeerAuthentication",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="default",
                namespace=ISTIO_NAMESPACE,
                labels=dict(MANAGED_BY),
            ),
            spec={"mtls": {"mode": args.mtls_mode}},
            opts=child(depends_on=[self.base.ready, self.istiod.ready, *tag, *args.after]),
        )
        self.ready = [self.istiod.ready, *tag, *args.after]
        # what waits for all of this component: it, and its charts' objects (registered later)
        self.whole: list[Dependency] = [self, self.base.ready, *(i.ready for i in self.istiods.values()), *tag]
        self.register_outputs(
            {
                "cluster": c,
                "version": self.version,
                "revision": self.revision,
                "revisions": [n for n, _ in args.revisions],
                "istiodService": self.istiod_service,
                "mtlsMode": args.mtls_mode,
            }
        )


# ------------------------------------------------------------------------- east-west gateway


@dataclass(frozen=True)
class EastWestGatewayArgs:
    """The east-west gateway of one cluster that exports hosts."""

    cluster: str  # the cluster's name (part of the child resource names)
    network: str  # the gateway chart's `networkGateway`: the cluster's Istio network
    version: str  # gateway chart version (x.y.z), the control plane's
    repository: str  # https:// chart repository, oci:// registry or a local folder of charts
    provider: k8s.Provider  # the cluster's kubernetes provider
    istiod: Dependency  # the istiod release the gateway pods are injected by (its `ready`)
    # hosts the gateway passes through (AUTO_PASSTHROUGH): the real FQDNs this cluster exports
    # (none: no `cross-network-gateway`, as in a remote cluster of primary-remote, whose gateway
    # takes the primary's Gateway objects, or a discovery cluster that exports nothing)
    hosts: tuple[str, ...]
    revision: Optional[str] = None  # the control plane revision whose istiod injects the gateway pods
    # primary-remote's primary: istiod on 15012 and 15017 through this gateway (expose-istiod sample)
    expose_istiod: bool = False
    # the gateway Service's type: ClusterIP behind the Pulumi-owned NLB (AWS modes), LoadBalancer in
    # local connectivity (MetalLB, k3d's servicelb, cloud-provider-kind give it an address)
    service_type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    # local connectivity with an IPv4 gateway address: the address the LoadBalancer Service asks for
    load_balancer_ip: Optional[str] = None
    # what the gateway pods need besides this cluster's istiod release: for a remote of
    # primary-remote, the primary's istiod path (its pods are injected by the primary's istiod)
    after: tuple[Dependency, ...] = ()

    def __post_init__(self) -> None:
        wild = [h for h in self.hosts if "*" in h]
        if wild:
            raise ValueError(f"{self.cluster}: wildcard hosts are not allowed on the east-west gateway: {wild}")
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"{self.cluster}: duplicate hosts for the east-west gateway")


def gateway_values(args: EastWestGatewayArgs) -> dict[str, Any]:
    """Values of the `gateway` chart (validated against the chart's values.schema.json in tests)."""
    values: dict[str, Any] = {
        # network gateway: Service/pod label topology.istio.io/network, REQUESTED_NETWORK_VIEW,
        # and the networkGatewayPorts below instead of the ingress ports
        "networkGateway": args.network,
        "labels": {"app": EASTWEST_RELEASE, **EASTWEST_SELECTOR},
        # AWS modes: the Pulumi-owned internal NLB reaches the pods through a TargetGroupBinding (ip
        # targets); local connectivity: a LoadBalancer Service at the configured address
        "service": {"type": args.service_type},
        "networkGatewayPorts": {
            name: {"port": port, "targetPort": port} for name, port in NETWORK_GATEWAY_PORTS.items()
        },
        # cross-network traffic of the whole cluster goes through it: never a single replica
        "autoscaling": {"minReplicas": 2},
        "podDisruptionBudget": {"minAvailable": 1},
        # a terminating pod keeps serving while the NLB still sends it flows, and the kubelet waits
        # for the drain (components/constants.py, DEREGISTRATION_DELAY_SECONDS)
        "podAnnotations": {
            PROXY_CONFIG_ANNOTATION: json.dumps({"terminationDrainDuration": f"{GATEWAY_DRAIN_SECONDS}s"})
        },
        "terminationGracePeriodSeconds": GATEWAY_GRACE_SECONDS,
    }
    if args.load_balancer_ip is not None:
        values["service"]["loadBalancerIP"] = args.load_balancer_ip
    if args.revision:
        values["revision"] = args.revision
    return values


def cross_network_gateway_spec(hosts: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The `cross-network-gateway` spec: 15443 TLS AUTO_PASSTHROUGH for exactly `hosts`."""
    return {
        "selector": dict(EASTWEST_SELECTOR),
        "servers": [
            {
                "port": {"number": GATEWAY_PORT, "name": "tls", "protocol": "TLS"},
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": list(hosts),
            }
        ],
    }


ISTIOD_GATEWAY = "istiod-gateway"
ISTIOD_VIRTUAL_SERVICE = "istiod-vs"
# gateway port -> istiod Service port (Istio's samples/multicluster/expose-istiod.yaml)
ISTIOD_GATEWAY_PORTS = {"tls-istiod": (15012, 15012), "tls-istiodwebhook": (15017, 443)}


def istiod_sni(revision: Optional[str]) -> str:
    """The SNI remote proxies and API servers send to istiod: the remote's `istiod` Service name."""
    return f"{istiod_release(revision)}.{ISTIO_NAMESPACE}.svc"


def istiod_gateway_spec(revision: Optional[str]) -> dict[str, Any]:
    """expose-istiod's Gateway, with the one SNI host instead of `*` (least exposure)."""
    return {
        "selector": dict(EASTWEST_SELECTOR),
        "servers": [
            {
                "port": {"number": port, "name": name, "protocol": "TLS"},
                "tls": {"mode": "PASSTHROUGH"},
                "hosts": [istiod_sni(revision)],
            }
            for name, (port, _) in ISTIOD_GATEWAY_PORTS.items()
        ],
    }


def istiod_virtual_service_spec(revision: Optional[str]) -> dict[str, Any]:
    """expose-istiod's VirtualService: SNI passthrough on 15012 and 15017 to istiod."""
    sni = istiod_sni(revision)
    return {
        "hosts": [sni],
        "gateways": [ISTIOD_GATEWAY],
        "tls": [
            {
                "match": [{"port": port, "sniHosts": [sni]}],
                "route": [
                    {
                        "destination": {
                            "host": service_fqdn(istiod_release(revision), ISTIO_NAMESPACE),
                            "port": {"number": target},
                        }
                    }
                ],
            }
            for port, target in ISTIOD_GATEWAY_PORTS.values()
        ],
    }


class EastWestGateway(pulumi.ComponentResource):
    """The `istio-eastwestgateway` release and its `cross-network-gateway` Gateway on one cluster."""

    release: HelmChart
    gateway: Optional[k8s.apiextensions.CustomResource]  # none without hosts
    istiod_gateway: Optional[k8s.apiextensions.CustomResource]  # primary-remote's primary only
    istiod_virtual_service: Optional[k8s.apiextensions.CustomResource]  # primary-remote's primary only
    service_host: str
    hosts: list[str]

    def __init__(self, name: str, args: EastWestGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:istio:EastWestGateway", name, None, opts)
        self.args = args
        self.service_host = eastwest_service_host()
        self.hosts = list(args.hosts)
        c = args.cluster

        child = partial(child_opts, self, args.provider)

        self.release = _chart(
            f"{c}-istio-eastwestgateway",
            EASTWEST_RELEASE,
            "gateway",
            args,
            gateway_values(args),
            child(depends_on=[args.istiod, *args.after]),
        )
        # what waits for all of this component: it, and its chart's objects (registered later)
        self.whole: list[Dependency] = [self, self.release.ready]
        self.gateway = None
        if args.hosts:
            self.gateway = self._gateway(child, args)
        self.istiod_gateway = None
        self.istiod_virtual_service = None
        if args.expose_istiod:
            meta = partial(k8s.meta.v1.ObjectMetaArgs, namespace=ISTIO_NAMESPACE, labels=dict(MANAGED_BY))
            self.istiod_gateway = k8s.apiextensions.CustomResource(
                f"{c}-{ISTIOD_GATEWAY}",
                api_version="networking.istio.io/v1",
                kind="Gateway",
                metadata=meta(name=ISTIOD_GATEWAY),
                spec=istiod_gateway_spec(args.revision),
                opts=child(depends_on=[args.istiod, self.release.ready]),
            )
            self.istiod_virtual_service = k8s.apiextensions.CustomResource(
                f"{c}-{ISTIOD_VIRTUAL_SERVICE}",
                api_version="networking.istio.io/v1",
                kind="VirtualService",
                metadata=meta(name=ISTIOD_VIRTUAL_SERVICE),
                spec=istiod_virtual_service_spec(args.revision),
                opts=child(depends_on=[args.istiod, self.istiod_gateway]),
            )
        self.register_outputs(
            {
                "cluster": c,
                "network": args.network,
                "serviceHost": self.service_host,
                "hosts": self.hosts,
            }
        )

    def _gateway(self, child: Any, args: EastWestGatewayArgs) -> k8s.apiextensions.CustomResource:
        c = args.cluster
        return k8s.apiextensions.CustomResource(
            f"{c}-cross-network-gateway",
            api_version="networking.istio.io/v1",
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CROSS_NETWORK_GATEWAY,
                namespace=ISTIO_NAMESPACE,
                labels=dict(MANAGED_BY),
            ),
            spec=cross_network_gateway_spec(args.hosts),
            # the gateway pods to select, and istiod to answer the validation webhook
            opts=child(depends_on=[args.istiod, self.release.ready]),
        )


# --------------------------------------------------------------------------- ingress gateway

# the AWS Load Balancer Controller's Service annotations: an NLB with ip targets, in the scheme asked
LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
LB_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
LB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"


@dataclass(frozen=True)
class IngressGatewayArgs:
    """An ingress gateway on one cluster: the gateway chart as its own release."""

    cluster: str
    version: str  # gateway chart version: the injecting revision's
    repository: str
    provider: k8s.Provider
    istiod: Dependency  # the istiod that injects the gateway pods (its `ready`)
    scheme: Literal["internal", "internet-facing"] = "internal"
    aws: bool = True  # an NLB of the AWS Load Balancer Controller; False: a plain LoadBalancer Service
    revision: Optional[str] = None
    after: tuple[Dependency, ...] = ()


def ingress_values(args: IngressGatewayArgs) -> dict[str, Any]:
    """Values of the `gateway` chart for the ingress gateway (keys of its values.schema.json)."""
    service: dict[str, Any] = {"type": "LoadBalancer"}
    if args.aws:
        service["annotations"] = {LB_TYPE: "external", LB_TARGET_TYPE: "ip", LB_SCHEME: args.scheme}
    values: dict[str, Any] = {
        "labels": {"app": INGRESS_RELEASE, **INGRESS_SELECTOR},
        "service": service,
        "autoscaling": {"minReplicas": 2},
        "podDisruptionBudget": {"minAvailable": 1},
    }
    if args.revision:
        values["revision"] = args.revision
    return values


class IngressGateway(pulumi.ComponentResource):
    """The `istio-ingressgateway` release on one cluster; distributed Gateways select its pods."""

    release: HelmChart

    def __init__(self, name: str, args: IngressGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:istio:IngressGateway", name, None, opts)
        self.args = args
        child = partial(child_opts, self, args.provider)
        self.release = _chart(
            f"{args.cluster}-{INGRESS_RELEASE}",
            INGRESS_RELEASE,
            "gateway",
            args,
            ingress_values(args),
            child(depends_on=[args.istiod, *args.after]),
        )
        self.register_outputs({"cluster": args.cluster, "scheme": args.scheme})
