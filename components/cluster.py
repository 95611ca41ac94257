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

from components.constants import ISTIO_NAMESPACE, MANAGED_BY, MANAGER, NETWORK_LABEL
from components.options import child_opts

# the AWS Load Balancer Controller injects its pod readiness gate only in namespaces with this label:
# a gateway pod is then Ready only once its target in the TargetGroupBinding's target group is healthy
POD_READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"


@dataclass(frozen=True)
class MeshClusterArgs:
    """One cluster: where it is and how to reach it."""

    name: str  # cluster name: the Istio clusterName and the kubernetes provider's cluster_identifier
    region: str  # AWS region of the cluster (its aws.Provider's region)
    network: str  # Istio network of the cluster: the `topology.istio.io/network` label of istio-system
    # the only AWS account its aws.Provider may touch (allowed_account_ids); None without `aws`
    account_id: Optional[pulumi.Input[str]]
    # an aws.Provider for the cluster: False in local connectivity (no AWS resource at all)
    aws: bool = True
    # exactly one of kube_context / kubeconfig (a secret Output)
    kube_context: Optional[str] = None
    kubeconfig: Optional[pulumi.Input[str]] = None
    # pulumi-kubernetes renderYamlToDirectory: manifests written there, no cluster reached
    render_directory: Optional[str] = None
    # a cluster that is gone: its objects leave the state when its API server cannot be reached
    delete_unreachable: bool = False
    assume_role_arn: Optional[str] = None  # IAM role the aws.Provider assumes in the cluster's account
    labels: dict[str, str] = field(default_factory=dict)  # the cluster's labels (distribute selectors)
    # a TargetGroupBinding lives in istio-system (the cluster's east-west gateway is behind the NLB):
    # label the namespace for the controller's pod readiness gate
    pod_readiness_gate: bool = False


class MeshCluster(pulumi.ComponentResource):
    """Groups a cluster's resources and owns its providers."""

    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: MeshClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:cluster:MeshCluster", name, None, opts)
        self.args = args
        self._aws_provider: Optional[aws.Provider] = None
        if args.aws:
            if args.account_id is None:
                raise ValueError(f"{name}: an AWS provider needs the cluster's account id")
            self._aws_provider = self._new_aws_provider(name, args, args.account_id)
        # render mode reaches no cluster: pulumi-kubernetes refuses a context or kubeconfig next to
        # renderYamlToDirectory ("arg is not compatible"), so they are not passed then
        rendering = args.render_directory is not None
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            context=None if rendering else args.kube_context,
            kubeconfig=(
                pulumi.Output.secret(args.kubeconfig) if args.kubeconfig is not None and not rendering else None
            ),
            # a kubeconfig change (rotated token, new endpoint) updates the provider, never replaces it
            cluster_identifier=name,
            render_yaml_to_directory=args.render_directory,
            enable_server_side_apply=True,
            # an API server that cannot be reached does not stop the `up` of the other clusters:
            # its objects keep their state and are updated by a later `up` (a warning per object)
            skip_update_unreachable=True,
            # a cluster that no longer exists (deleted with its infra stack), flagged in the stack
            # file: its objects leave the state instead of failing every delete and refresh
            delete_unreachable=args.delete_unreachable,
            # the objects are meshbridge's: `up` takes a field back from whoever changed it (a hand
            # edit, the field manager of an interrupted `up`) instead of failing on the conflict
            # (docs/runbook.md, "An interrupted `pulumi up`", "Adopting an existing Istio")
            enable_patch_force=True,
            # a changed Secret or ConfigMap (cacerts at intermediate renewal, the charts' mesh config)
            # is updated in place; by default pulumi-kubernetes deletes it and creates it again, and
            # istiod would see cacerts or its mesh config gone in between
            enable_secret_mutable=True,
            enable_config_map_mutable=True,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["kubeconfig"]),
        )
        # istio-system exists before anything of Istio: the cacerts Secret must be in it before istiod
        # starts (docs/architecture.md, "Istio install order"), and the network label tells istiod
        # which network it is on.
        labels = {NETWORK_LABEL: args.network, **MANAGED_BY}
        if args.pod_readiness_gate:
            # without it a gateway rollout can end with no healthy target in the NLB's target group
            labels[POD_READINESS_GATE_LABEL] = "enabled"
        self.istio_namespace = k8s.core.v1.Namespace(
            f"{name}-{ISTIO_NAMESPACE}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ISTIO_NAMESPACE, labels=labels),
            opts=self.child_opts(),
        )
        self.register_outputs({"name": name, "region": args.region, "network": args.network})

    @property
    def aws_provider(self) -> aws.Provider:
        """The cluster's aws.Provider (never in local connectivity)."""
        if self._aws_provider is None:
            raise ValueError(f"{self.args.name}: no AWS provider in local connectivity")
        return self._aws_provider

    def _new_aws_provider(self, name: str, args: MeshClusterArgs, account_id: pulumi.Input[str]) -> aws.Provider:
        return aws.Provider(
            f"{name}-aws",
            region=args.region,
            # refuse to touch any other account than the cluster's own
            allowed_account_ids=[account_id],
            assume_roles=(
                [aws.ProviderAssumeRoleArgs(role_arn=args.assume_role_arn, session_name=f"meshbridge-{name}")]
                if args.assume_role_arn
                else None
            ),
            default_tags=aws.ProviderDefaultTagsArgs(tags={"meshbridge:cluster": name, "managed-by": MANAGER}),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def child_opts(self, kind: str = "k8s", **kwargs) -> pulumi.ResourceOptions:
        """Options for a resource of this cluster: parented here, on the explicit provider."""
        provider = self.k8s_provider if kind == "k8s" else self.aws_provider
        return child_opts(self, provider, **kwargs)
