"""MeshCluster: one cluster of the mesh, with its explicit AWS and Kubernetes providers.

Every resource of a cluster is created under this component (so a preview reads as a tree:
stack -> cluster -> parts) and on one of its two providers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.options import child_opts

ISTIO_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class MeshClusterArgs:
    name: str
    region: str
    network: str
    account_id: pulumi.Input[str]
    # exactly one of kube_context / kubeconfig (a secret Output)
    kube_context: Optional[str] = None
    kubeconfig: Optional[pulumi.Input[str]] = None
    assume_role_arn: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)


class MeshCluster(pulumi.ComponentResource):
    """Groups a cluster's resources and owns its providers."""

    aws_provider: aws.Provider
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: MeshClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:cluster:MeshCluster", name, None, opts)
        self.args = args
        self.aws_provider = aws.Provider(
            f"{name}-aws",
            region=args.region,
            # refuse to touch any other account than the cluster's own
            allowed_account_ids=[args.account_id],
            assume_roles=(
                [aws.ProviderAssumeRoleArgs(role_arn=args.assume_role_arn, session_name=f"meshbridge-{name}")]
                if args.assume_role_arn
                else None
            ),
            default_tags=aws.ProviderDefaultTagsArgs(tags={"meshbridge:cluster": name, "managed-by": "meshbridge"}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            context=args.kube_context,
            kubeconfig=pulumi.Output.secret(args.kubeconfig) if args.kubeconfig is not None else None,
            # a kubeconfig change (rotated token, new endpoint) updates the provider, never replaces it
            cluster_identifier=name,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["kubeconfig"]),
        )
        # istio-system exists before anything of Istio: the cacerts Secret must be in it before istiod
        # starts (DESIGN.md section 4), and the network label tells istiod which network it is on.
        self.istio_namespace = k8s.core.v1.Namespace(
            f"{name}-istio-system",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ISTIO_NAMESPACE,
                labels={"topology.istio.io/network": args.network, "app.kubernetes.io/managed-by": "meshbridge"},
            ),
            opts=self.child_opts(),
        )
        self.register_outputs({"name": name, "region": args.region, "network": args.network})

    def child_opts(self, kind: str = "k8s", **kwargs) -> pulumi.ResourceOptions:
        """Options for a resource of this cluster: parented here, on the explicit provider."""
        provider = self.k8s_provider if kind == "k8s" else self.aws_provider
        return child_opts(self, provider, **kwargs)
