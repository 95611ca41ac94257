"""Istio's endpoint discovery across clusters, without istioctl and without copying tokens.

`IstioReader` (one per cluster whose API server another cluster's istiod reads): a ServiceAccount
with the permissions Istio's remote secret needs (the `istio-reader-clusterrole` of Istio 1.30's
istiod chart, which `istioctl create-remote-secret` relies on; with the extra rules of
`istiodRemote` for a remote cluster of primary-remote, whose namespaces and webhooks the primary's
istiod writes) and a `kubernetes.io/service-account-token` Secret: Kubernetes fills in its token.

`RemoteSecret` (one per (holder, target) pair): in the holder's `istio-system`, the Secret
`istio-remote-secret-<target>` (label `istio/multiCluster: "true"`, key = the target's cluster name)
holding a kubeconfig for the target's API server, with the reader token as a Pulumi secret. The
holder's istiod watches such Secrets and discovers the target's Services and endpoints.

Objects are meshbridge's own (`meshbridge-istio-reader`), beside the chart's
`istio-reader-service-account`: server-side apply would otherwise fight Helm over them, and the
token's lifetime is then meshbridge's. The token Secret is named by generation
(`apiServer.tokenGeneration`): a rotation creates the next one and hands it to the holders before
the old one is deleted (docs/runbook.md, "Discovery models: rotating the reader token").
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.constants import ISTIO_NAMESPACE, MANAGED_BY
from components.options import child_opts

READER = "meshbridge-istio-reader"
READER_TOKEN = f"{READER}-token"
MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
MCS_API_GROUP = "multicluster.x-k8s.io"
READ = ["get", "list", "watch"]


def reader_token_name(generation: int = 1) -> str:
    """The reader token Secret of a generation: `meshbridge-istio-reader-token` for the first (the
    name it always had), `meshbridge-istio-reader-token-<n>` after it."""
    return READER_TOKEN if generation == 1 else f"{READER_TOKEN}-{generation}"


def remote_secret_name(target: str) -> str:
    """`istio-remote-secret-<target>`: the name istioctl create-remote-secret gives it."""
    return f"istio-remote-secret-{target}"


def reader_rules(remote: bool) -> list[dict[str, Any]]:
    """The rules of Istio 1.30's `istio-reader-clusterrole` (istiod chart, reader-clusterrole.yaml),
    with its `istiodRemote.enabled` additions for a remote cluster of primary-remote.

    They include listing every Secret of the read cluster, which no reading istiod of multi-primary
    uses (istio/istio#32364: it is for the SDS of proxies connected to that istiod), and still keep
    it: istiod 1.30 starts a Secret informer for every remote cluster and, refused, marks the cluster
    `timeout` instead of `synced` and logs a forbidden error about every 45 s (make e2e's istiod phase
    ran it both ways: docs/e2e.md). What else the token may do is checked there: no write, no RBAC."""
    rules: list[dict[str, Any]] = [
        {
            "apiGroups": [
                "config.istio.io",
                "security.istio.io",
                "networking.istio.io",
                "authentication.istio.io",
                "rbac.istio.io",
                "telemetry.istio.io",
                "extensions.istio.io",
            ],
            "resources": ["*"],
            "verbs": READ,
        },
        {
            "apiGroups": [""],
            "resources": [
                "endpoints",
                "pods",
                "services",
                "nodes",
                "replicationcontrollers",
                "namespaces",
                "secrets",
                "configmaps",
            ],
            "verbs": READ,
        },
        {"apiGroups": ["networking.istio.io"], "resources": ["workloadentries"], "verbs": READ},
        {"apiGroups": ["networking.x-k8s.io", "gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": READ},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": READ},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
        {"apiGroups": [MCS_API_GROUP], "resources": ["serviceexports"], "verbs": [*READ, "create", "delete"]},
        {"apiGroups": [MCS_API_GROUP], "resources": ["serviceimports"], "verbs": READ},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]
    if remote:
        rules += [
            # the primary's istiod writes istio-ca-root-cert into the remote's namespaces ...
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "update"]},
            # ... and patches the CA bundle of the remote's webhooks
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["mutatingwebhookconfigurations"],
                "verbs": ["get", "list", "watch", "update", "patch"],
            },
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingwebhookconfigurations"],
                "verbs": ["get", "list", "watch", "update"],
            },
        ]
    return rules


def kubeconfig(cluster: str, server: str, ca_data: str, token: str) -> str:
    """The kubeconfig of a remote secret, shaped as istioctl create-remote-secret writes it."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"cluster": {"certificate-authority-data": ca_data, "server": server}, "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": cluster}, "name": cluster}],
        "current-context": cluster,
        "preferences": {},
        "users": [{"name": cluster, "user": {"token": token}}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _token(data: Any) -> str:
    """The token of a service-account-token Secret's `data` (base64, filled in by Kubernetes)."""
    value = (data or {}).get("token") if isinstance(data, dict) else None
    if not value:
        raise ValueError(
            f"the {READER_TOKEN}[-<generation>] Secret has no token yet (Kubernetes' token controller fills it in)"
        )
    return base64.b64decode(value).decode()


# ------------------------------------------------------------------------------------ reader


@dataclass(frozen=True)
class IstioReaderArgs:
    """The reader account of one cluster whose API server other clusters' istiod read."""

    cluster: str  # the cluster's name (part of the child resource names)
    provider: k8s.Provider  # the cluster's kubernetes provider
    namespace: pulumi.Resource  # its istio-system Namespace
    # a remote cluster of primary-remote: the primary's istiod also writes its ConfigMaps and webhooks
    remote: bool = False
    # the token's generation: a new one is a new Secret (name and resource name), so the engine
    # creates it, updates the remote secrets that read it, and deletes the previous one last
    token_generation: int = 1


class IstioReader(pulumi.ComponentResource):
    """ServiceAccount, ClusterRole, ClusterRoleBinding and token Secret for Istio's remote secret."""

    token: pulumi.Output[str]  # the reader's token (a Pulumi secret)
    token_secret: k8s.core.v1.Secret

    def __init__(self, name: str, args: IstioReaderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:discovery:IstioReader", name, None, opts)
        self.args = args
        child = partial(child_opts, self, args.provider)
        labels = dict(MANAGED_BY)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=READER, namespace=ISTIO_NAMESPACE, labels=labels),
            opts=child(depends_on=[args.namespace]),
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-clusterrole",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=READER, labels=labels),
            rules=reader_rules(args.remote),
            opts=child(),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=READER, labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=READER),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=READER, namespace=ISTIO_NAMESPACE)],
            opts=child(depends_on=[account, role]),
        )
        # a long-lived token bound to the account: deleting the Secret (or the account) revokes it;
        # named by generation, so a rotation creates the next token before the old one goes
        generation = args.token_generation
        self.token_secret_name = reader_token_name(generation)
        self.token_secret = k8s.core.v1.Secret(
            f"{name}-token" if generation == 1 else f"{name}-token-{generation}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.token_secret_name,
                namespace=ISTIO_NAMESPACE,
                labels=labels,
                annotations={"kubernetes.io/service-account.name": READER},
            ),
            type=SA_TOKEN_TYPE,
            opts=child(depends_on=[account], additional_secret_outputs=["data"]),
        )
        self.token = pulumi.Output.secret(self.token_secret.data.apply(_token))
        self.register_outputs(
            {"cluster": args.cluster, "serviceAccount": READER, "tokenSecret": self.token_secret_name}
        )


# ------------------------------------------------------------------------------ remote secret


@dataclass(frozen=True)
class RemoteSecretArgs:
    """The kubeconfig with which `holder`'s istiod reads `target`'s API server."""

    holder: str  # the cluster whose istiod reads (the Secret lives in its istio-system)
    target: str  # the cluster read: the Secret's key and Istio cluster name
    server: pulumi.Input[str]  # the target's API server URL, as the holder reaches it
    ca_data: pulumi.Input[str]  # base64 PEM of the target API server's CA
    token: pulumi.Input[str]  # the target's reader token (a Pulumi secret)
    provider: k8s.Provider  # the holder's kubernetes provider
    namespace: pulumi.Resource  # the holder's istio-system Namespace


class RemoteSecret(pulumi.ComponentResource):
    """`istio-remote-secret-<target>` in the holder cluster."""

    secret: k8s.core.v1.Secret

    def __init__(self, name: str, args: RemoteSecretArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:discovery:RemoteSecret", name, None, opts)
        self.args = args
        built: pulumi.Output[str] = pulumi.Output.all(args.server, args.ca_data, args.token).apply(
            lambda v: kubeconfig(args.target, str(v[0]), str(v[1]), str(v[2]))
        )
        config: pulumi.Output[str] = pulumi.Output.secret(built)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=remote_secret_name(args.target),
                namespace=ISTIO_NAMESPACE,
                labels={**MANAGED_BY, MULTICLUSTER_LABEL: "true"},
                annotations={CLUSTER_ANNOTATION: args.target},
            ),
            type="Opaque",
            string_data={args.target: config},
            opts=child_opts(self, args.provider, depends_on=[args.namespace]),
        )
        self.register_outputs({"holder": args.holder, "target": args.target, "secret": remote_secret_name(args.target)})
