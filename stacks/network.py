"""Wiring of the AWS private connectivity: PrivateGateway per producer, GatewayEndpoint per pair.

Only producers that someone consumes get a gateway, and only (consumer, producer) pairs that come
from the services' consumers get an endpoint (`MeshConfig.pairs()`), never all clusters x all clusters.
`Network.gateway_address(consumer, producer)` is the one answer to "which address does consumer C
use to reach producer P's east-west gateway" (port `GATEWAY_PORT`); docs/architecture.md, "Traffic
path and AWS prerequisites".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from components.constants import GATEWAY_PORT
from components.network import (
    GatewayBindingArgs,
    GatewayConsumer,
    GatewayEndpoint,
    GatewayEndpointArgs,
    PrivateGateway,
    PrivateGatewayArgs,
)
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig
from stacks.istio import EastWestGateways


def _aws(value: Optional[pulumi.Input[str]]) -> pulumi.Input[str]:
    """An AWS input of a cluster (None only in local connectivity, which creates no AWS resource)."""
    assert value is not None, "AWS inputs are resolved in every AWS connectivity mode"
    return value


def _aws_list(value: Optional[pulumi.Input[list[str]]]) -> pulumi.Input[list[str]]:
    assert value is not None, "AWS inputs are resolved in every AWS connectivity mode"
    return value


def _cidrs(value: Optional[list[pulumi.Input[str]]]) -> list[pulumi.Input[str]]:
    assert value, "AWS inputs are resolved in every AWS connectivity mode"
    return value


def gateway_clusters(cfg: MeshConfig) -> list[str]:
    """Producers that someone consumes: each gets a PrivateGateway (NLB + TargetGroupBinding). With
    endpoint discovery every cluster (every network's gateway is in the others' meshNetworks)."""
    if cfg.mesh.discovery:
        return [c.name for c in cfg.clusters]
    consumed = {p for _, p in cfg.pairs()}
    return [p for p in cfg.producers() if p in consumed]


def endpoint_principal_role(cfg: MeshConfig, consumer: str) -> Optional[str]:
    """The role a producer's endpoint service admits for `consumer` (mesh.privateLink.allowedPrincipals
    `roles`): the role that creates the consumer's endpoints, its aws.assumeRoleArn or else the
    deployer role; None with `accounts` (the account root)."""
    if cfg.mesh.connectivity != "privatelink" or cfg.mesh.private_link.allowed_principals != "roles":
        return None
    role = cfg.cluster(consumer).aws.assume_role_arn or cfg.aws.deployer_role_arn
    assert role is not None, "required by the config checks"
    return role


@dataclass
class Network:
    """The network part of the mesh: gateways per producer, endpoints per pair (AWS modes), or the
    configured gateway addresses (local connectivity: no AWS resource)."""

    connectivity: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    gateways: dict[str, PrivateGateway] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], GatewayEndpoint] = field(default_factory=dict)
    port: int = GATEWAY_PORT
    # local connectivity: producer -> the address of its LoadBalancer east-west gateway (from config)
    local_addresses: dict[str, str] = field(default_factory=dict)

    def literal_address(self, producer: str) -> Optional[str]:
        """The gateway address of `producer` when the configuration gives it (local connectivity),
        the same for every consumer; None when AWS creates it (known only after deployment)."""
        return self.local_addresses.get(producer)

    def gateway_address(self, consumer: str, producer: str) -> pulumi.Output[str]:
        """The DNS name consumer `consumer` uses for producer `producer`'s east-west gateway (port
        `GATEWAY_PORT`): the interface endpoint's regional DNS name (or its Route 53 name when
        mesh.gatewayDns is set) in privatelink mode, the producer NLB's DNS name in routed mode."""
        if (consumer, producer) not in self.pairs:
            known = ", ".join(f"{c}->{p}" for c, p in self.pairs) or "none"
            raise ValueError(
                f"no private link from {consumer!r} to {producer!r}: {consumer!r} consumes no service "
                f"of {producer!r} (pairs: {known})"
            )
        if self.connectivity == "local":
            return pulumi.Output.from_input(self.local_addresses[producer])
        if self.connectivity == "privatelink":
            return self.endpoints[(consumer, producer)].address
        return self.gateways[producer].nlb_dns_name

    def shared_gateway_address(self, producer: str) -> pulumi.Output[str]:
        """The one address of `producer`'s gateway that every other cluster can use (primary-remote:
        the primary's istiod hands the same address to every proxy): the NLB's DNS name in routed
        mode, `<producer>.<gatewayDns>` (a private zone in each consumer VPC) in privatelink mode."""
        consumers = [c for c, p in self.pairs if p == producer]
        if not consumers:
            raise ValueError(f"no cluster reaches {producer!r}")
        if self.connectivity == "privatelink" and self.endpoints[(consumers[0], producer)].zone is None:
            raise ValueError("privatelink without mesh.gatewayDns has a different address per consumer")
        return self.gateway_address(consumers[0], producer)

    def ready(self, producer: str) -> list[pulumi.Resource]:
        """What carries traffic to `producer`'s east-west gateway once it exists: its TargetGroupBinding
        (the pods registered) and the listener forwarding to them (AWS modes, after `bind_gateways`);
        nothing in local connectivity (the LoadBalancer Service comes with the gateway release)."""
        gateway = self.gateways.get(producer)
        if gateway is None:
            return []
        return [gateway.target_group_binding, gateway.listener]

    def cluster_outputs(self, name: str) -> dict[str, Any]:
        gateway: Optional[dict[str, Any]] = None
        if name in self.local_addresses:
            gateway = {"address": self.local_addresses[name], "port": self.port}
        elif name in self.gateways:
            gw = self.gateways[name]
            gateway = {
                "nlbDnsName": gw.nlb_dns_name,
                "nlbArn": gw.nlb_arn,
                "endpointServiceName": gw.endpoint_service_name,
                "port": self.port,
            }
        addresses = {p: self.gateway_address(c, p) for c, p in self.pairs if c == name}
        return {"gatewayAddresses": addresses, "gateway": gateway}


def wire_network(cfg: MeshConfig, clusters: Clusters) -> Network:
    """A PrivateGateway per consumed producer (its AWS parts; `bind_gateways` adds the
    TargetGroupBinding once the east-west gateway release exists), then in privatelink mode a
    GatewayEndpoint per (consumer, producer) pair."""
    mode = cfg.mesh.connectivity
    net = Network(connectivity=mode, pairs=cfg.pairs())
    if mode == "local":
        # one routed network: each producer's LoadBalancer gateway at its configured address
        for producer in gateway_clusters(cfg):
            gateway = cfg.cluster(producer).gateway
            assert gateway is not None  # required by the config checks
            net.local_addresses[producer] = gateway.address
        return net
    for producer in gateway_clusters(cfg):
        spec = cfg.cluster(producer)
        inputs = clusters.inputs[producer]
        cluster = clusters[producer]
        consumers = [
            GatewayConsumer(
                name=c,
                account_id=_aws(clusters.inputs[c].account_id),
                region=cfg.cluster(c).region,
                vpc_cidrs=_cidrs(clusters.inputs[c].vpc_cidrs),
                role_arn=endpoint_principal_role(cfg, c),
            )
            for c, p in net.pairs
            if p == producer
        ]
        net.gateways[producer] = PrivateGateway(
            names.private_gateway(producer),
            PrivateGatewayArgs(
                cluster=producer,
                region=spec.region,
                vpc_id=_aws(inputs.vpc_id),
                vpc_cidrs=_cidrs(inputs.vpc_cidrs),
                subnet_ids=_aws_list(inputs.subnet_ids),
                connectivity=mode,
                consumers=consumers,
                aws_provider=cluster.aws_provider,
                k8s_provider=cluster.k8s_provider,
                istio_namespace=cluster.istio_namespace,
                istiod_ports=cfg.exposes_istiod(producer),
                istiod_for_consumers=cfg.mesh.model == "primary-remote" and producer == cfg.mesh.primary_cluster,
                istiod_clients=cfg.istiod_clients(producer),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    if mode == "privatelink":
        for consumer, producer in net.pairs:
            gw = net.gateways[producer]
            assert gw.endpoint_service_name is not None
            inputs = clusters.inputs[consumer]
            net.endpoints[(consumer, producer)] = GatewayEndpoint(
                names.gateway_endpoint(consumer, producer),
                GatewayEndpointArgs(
                    consumer=consumer,
                    producer=producer,
                    consumer_region=cfg.cluster(consumer).region,
                    producer_region=cfg.cluster(producer).region,
                    vpc_id=_aws(inputs.vpc_id),
                    vpc_cidrs=_cidrs(inputs.vpc_cidrs),
                    subnet_ids=_aws_list(inputs.subnet_ids),
                    service_name=gw.endpoint_service_name,
                    aws_provider=clusters[consumer].aws_provider,
                    gateway_dns=cfg.mesh.gateway_dns,
                ),
                opts=pulumi.ResourceOptions(parent=clusters[consumer]),
            )
    return net


def bind_gateways(network: Network, eastwest: EastWestGateways, only: Optional[Collection[str]] = None) -> Network:
    """Each PrivateGateway's TargetGroupBinding, after the producer's east-west gateway release: the
    binding's serviceRef (the istio-eastwestgateway Service) exists only after the release; gateway
    pods created once the binding exists (every later rollout) carry the controller's readiness
    gate (istio-system is labelled for it)."""
    for producer, gateway in network.gateways.items():
        if only is not None and producer not in only:
            continue
        gateway.bind(GatewayBindingArgs(depends_on=[eastwest.by_cluster[producer].release.ready]))
    return network
