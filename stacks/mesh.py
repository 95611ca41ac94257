"""Wiring of the components for one stack: config in, a `Mesh` (all components) out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components.cluster import MeshCluster, MeshClusterArgs
from stacks.config import ClusterSpec, MeshConfig


@dataclass
class ClusterInputs:
    """A cluster's values, literal from config or read from its infraStack (literal wins)."""

    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    kubeconfig: Optional[pulumi.Input[str]]


@dataclass
class Mesh:
    config: MeshConfig
    clusters: dict[str, MeshCluster] = field(default_factory=dict)
    inputs: dict[str, ClusterInputs] = field(default_factory=dict)
    stack_refs: dict[str, pulumi.StackReference] = field(default_factory=dict)
    # filled by the later parts of the composition, in this order: pki, network, istio, services.
    # A part may offer `cluster_outputs(name) -> dict` and `stack_outputs() -> dict` (stacks/outputs.py).
    parts: dict[str, Any] = field(default_factory=dict)

    def gateway_address(self, consumer: str, producer: str) -> pulumi.Output[str]:
        """The address consumer `consumer` uses to reach producer `producer`'s east-west gateway
        (port GATEWAY_PORT): the interface endpoint's DNS name in privatelink mode, the producer
        NLB's DNS name in routed mode. Answered by the network part (stacks/network.py)."""
        return self.parts["network"].gateway_address(consumer, producer)


def _ref_name(stack: str) -> str:
    return "infra-" + re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")


def _value(mesh: Mesh, spec: ClusterSpec, literal: Any, key: str) -> Any:
    if literal is not None:
        return literal
    out_name = spec.from_stack(key)
    assert spec.infra_stack is not None and out_name is not None  # guaranteed by the config checks
    stack = spec.infra_stack.name
    if stack not in mesh.stack_refs:
        mesh.stack_refs[stack] = pulumi.StackReference(_ref_name(stack), stack_name=stack)
    return mesh.stack_refs[stack].get_output(out_name)


def resolve_inputs(mesh: Mesh, spec: ClusterSpec) -> ClusterInputs:
    kubeconfig = None
    if spec.kubernetes.kubeconfig is not None:
        kubeconfig = pulumi.Output.secret(spec.kubernetes.kubeconfig)
    elif spec.kubernetes.context is None:
        kubeconfig = pulumi.Output.secret(_value(mesh, spec, None, "kubeconfig"))
    return ClusterInputs(
        account_id=_value(mesh, spec, spec.account_id, "account_id"),
        vpc_id=_value(mesh, spec, spec.vpc.id, "vpc_id"),
        vpc_cidr=_value(mesh, spec, spec.vpc.cidr, "vpc_cidr"),
        subnet_ids=_value(mesh, spec, spec.vpc.subnet_ids, "subnet_ids"),
        kubeconfig=kubeconfig,
    )


def build_mesh(cfg: MeshConfig) -> Mesh:
    from stacks.network import gateway_clusters

    mesh = Mesh(config=cfg)
    with_gateway = set(gateway_clusters(cfg))
    for spec in cfg.clusters:
        inputs = resolve_inputs(mesh, spec)
        mesh.inputs[spec.name] = inputs
        mesh.clusters[spec.name] = MeshCluster(
            spec.name,
            MeshClusterArgs(
                name=spec.name,
                region=spec.region,
                network=spec.network,
                account_id=inputs.account_id,
                kube_context=spec.kubernetes.context,
                kubeconfig=inputs.kubeconfig,
                assume_role_arn=spec.aws.assume_role_arn,
                labels=dict(spec.labels),
                pod_readiness_gate=spec.name in with_gateway,
            ),
        )
    # each part registers its components under the clusters and adds itself to mesh.parts
    from stacks import istio, network, pki, services

    # istio before network: the TargetGroupBinding waits for the east-west gateway release
    for part in (pki, istio, network, services):
        part.wire(mesh)
    return mesh
