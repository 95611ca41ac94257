"""Wiring of the clusters: one `MeshCluster` per configured cluster, with its resolved inputs.

A cluster's account id, VPC, subnets and kubeconfig are literal in the stack file or read from the
outputs of the stack that built the cluster (`infraStack`, through one `pulumi.StackReference` per
upstream stack); a literal value wins. Every other part of the composition parents its components
to the cluster's `MeshCluster` and uses its explicit providers (docs/architecture.md, "Layout of the
program").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components.cluster import MeshCluster, MeshClusterArgs
from stacks.config.model import ClusterSpec, MeshConfig


@dataclass(frozen=True)
class ClusterInputs:
    """A cluster's values, literal from config or read from its infraStack (literal wins)."""

    # the AWS values: None in local connectivity (no AWS resource; docs/local.md)
    account_id: Optional[pulumi.Input[str]]
    vpc_id: Optional[pulumi.Input[str]]
    # every CIDR block of the VPC (primary first): `vpc.cidrs`, `vpc.cidr` or the infraStack's vpcCidr
    vpc_cidrs: Optional[list[pulumi.Input[str]]]
    subnet_ids: Optional[pulumi.Input[list[str]]]
    # a secret Output, or None when the cluster is reached through a kube context
    kubeconfig: Optional[pulumi.Input[str]]
    # the API server as other clusters' istiod reach it (discovery models), when configured
    api_server_endpoint: Optional[pulumi.Input[str]] = None
    api_server_ca: Optional[pulumi.Input[str]] = None
    # the cluster's IAM OIDC provider (IRSA), when configured (ca.backend aws-pca)
    oidc_provider_arn: Optional[pulumi.Input[str]] = None


@dataclass
class Clusters:
    """The clusters of the mesh: `MeshCluster` components and their resolved inputs, by cluster name."""

    components: dict[str, MeshCluster] = field(default_factory=dict)
    inputs: dict[str, ClusterInputs] = field(default_factory=dict)
    # upstream stack name -> its StackReference (one per stack, however many clusters read it)
    stack_refs: dict[str, pulumi.StackReference] = field(default_factory=dict)

    def __getitem__(self, name: str) -> MeshCluster:
        return self.components[name]


def _ref_name(stack: str) -> str:
    return "infra-" + re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")


def _value(refs: dict[str, pulumi.StackReference], spec: ClusterSpec, literal: Any, key: str) -> Any:
    if literal is not None:
        return literal
    out_name = spec.from_stack(key)
    assert spec.infra_stack is not None and out_name is not None  # guaranteed by the config checks
    stack = spec.infra_stack.name
    if stack not in refs:
        refs[stack] = pulumi.StackReference(_ref_name(stack), stack_name=stack)
    return refs[stack].get_output(out_name)


def resolve_inputs(refs: dict[str, pulumi.StackReference], spec: ClusterSpec, aws: bool = True) -> ClusterInputs:
    """The cluster's inputs; a StackReference is added to `refs` for an upstream stack not read yet.
    Without `aws` (local connectivity) the account and VPC values are None."""
    kubeconfig = None
    if spec.kubernetes.kubeconfig is not None:
        kubeconfig = pulumi.Output.secret(spec.kubernetes.kubeconfig)
    elif spec.kubernetes.context is None and spec.from_stack("kubeconfig"):
        kubeconfig = pulumi.Output.secret(_value(refs, spec, None, "kubeconfig"))
    aws_value = (lambda literal, key: _value(refs, spec, literal, key)) if aws else (lambda literal, key: None)
    return ClusterInputs(
        account_id=aws_value(spec.account_id, "account_id"),
        vpc_id=aws_value(spec.vpc.id, "vpc_id"),
        vpc_cidrs=_cidrs(refs, spec) if aws else None,
        subnet_ids=aws_value(spec.vpc.subnet_ids, "subnet_ids"),
        kubeconfig=kubeconfig,
        api_server_endpoint=_optional(refs, spec, spec.api_server.endpoint, "api_server_endpoint"),
        api_server_ca=_optional(refs, spec, spec.api_server.ca_data, "api_server_ca"),
        oidc_provider_arn=_optional(refs, spec, spec.aws.oidc_provider_arn, "oidc_provider_arn") if aws else None,
    )


def _cidrs(refs: dict[str, pulumi.StackReference], spec: ClusterSpec) -> list[pulumi.Input[str]]:
    """The VPC's CIDR blocks: `vpc.cidrs` or `vpc.cidr` from the stack file, else the infraStack's one."""
    blocks: list[pulumi.Input[str]] = list(spec.vpc.blocks or [])
    return blocks or [_value(refs, spec, None, "vpc_cidr")]


def _optional(refs: dict[str, pulumi.StackReference], spec: ClusterSpec, literal: Any, key: str) -> Any:
    """A value that only some models need: literal, from the infraStack when mapped there, or None."""
    if literal is None and spec.from_stack(key) is None:
        return None
    return _value(refs, spec, literal, key)


def wire_clusters(cfg: MeshConfig, readiness_gate: Collection[str]) -> Clusters:
    """One `MeshCluster` per cluster, in config order. The clusters in `readiness_gate` (those with a
    TargetGroupBinding: docs/architecture.md, "Traffic path and AWS prerequisites") get the AWS Load
    Balancer Controller's pod readiness gate label on istio-system. In local connectivity no cluster
    gets an AWS provider."""
    clusters = Clusters()
    aws = cfg.mesh.connectivity != "local"
    for spec in cfg.clusters:
        inputs = resolve_inputs(clusters.stack_refs, spec, aws=aws)
        clusters.inputs[spec.name] = inputs
        clusters.components[spec.name] = MeshCluster(
            spec.name,
            MeshClusterArgs(
                name=spec.name,
                region=spec.region,
                network=spec.network,
                account_id=inputs.account_id,
                aws=aws,
                kube_context=spec.kubernetes.context,
                render_directory=spec.kubernetes.render_yaml_to_directory,
                delete_unreachable=spec.kubernetes.delete_unreachable,
                kubeconfig=inputs.kubeconfig,
                assume_role_arn=spec.aws.assume_role_arn,
                labels=dict(spec.labels),
                pod_readiness_gate=spec.name in readiness_gate,
            ),
        )
    return clusters
