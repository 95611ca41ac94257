"""Private connectivity on AWS between the clusters' east-west gateways.

Why it is shaped like this: docs/architecture.md, "Traffic path and AWS prerequisites".

`PrivateGateway` (one per producer cluster, on the producer's providers): an internal Network Load
Balancer in the producer's private subnets with its security group, a TCP target group of type
`ip` on 15443 (HTTP health check on 15021 `/healthz/ready`), a TCP listener on 15443, the
`TargetGroupBinding` that lets the AWS Load Balancer Controller register the
`istio-eastwestgateway` pods in that target group, and in `privatelink` mode a
`VpcEndpointService` open to the consuming clusters' accounts only.

`GatewayEndpoint` (one per (consumer, producer) pair in `privatelink` mode, on the consumer's
provider): an interface `VpcEndpoint` in the consumer VPC with its own security group, and
optionally a Route 53 private hosted zone whose apex aliases the endpoint (a stable name).

Security group decision (docs/architecture.md, "Traffic path and AWS prerequisites"): in
`privatelink` mode the NLB does not evaluate its security group for PrivateLink traffic
(`enforce_security_group_inbound_rules_on_private_link_traffic = "off"`). Who may connect is decided
by the endpoint service's `allowed_principals` (the consumer clusters' deployer roles by default, or
the consumer account roots; never `*`), by the endpoint's security group in the consumer VPC (15443
from the consumer VPC's CIDR blocks only) and by Istio mTLS at the gateway. The NLB's own security
group then has no inbound rule at all (nothing inside the producer VPC needs the NLB). In `routed`
mode the NLB security group admits 15443 from the consuming clusters' VPC CIDR blocks only. In both
modes its outbound rules reach the targets (15443) and their health port (15021) inside the
producer VPC's CIDR blocks only (every block: pods of EKS custom networking live in a secondary
one), and the `TargetGroupBinding` opens the pods to the NLB's security group only. No rule
anywhere admits 0.0.0.0/0 or ::/0.

Order on a replacement (docs/runbook.md, "Replacing a target group" and "Replacing the NLB"): the
AWS Load Balancer Controller refuses a change of a TargetGroupBinding's `targetGroupARN`,
`targetType`, `ipAddressType` or `vpcID` and admits one binding per target group, so a binding is
replaced, deleted before its successor is created, whenever one of those changes; each listener is
created (and switched to a new target group) only after the binding that fills its target group. A
replaced NLB replaces its listeners, each deleted before its successor: a target group can be used
by one load balancer only, and the group stays. The endpoint service follows the NLB in place (same
service name, so the consumers' endpoints stay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.constants import (
    DEREGISTRATION_DELAY_SECONDS,
    EASTWEST_RELEASE,
    GATEWAY_PORT,
    HEALTH_PATH,
    HEALTH_PORT,
    ISTIO_NAMESPACE,
    MANAGED_BY,
    PART_OF_LABEL,
    partition,
)
from components.options import Dependency, child_opts

TGB_API_VERSION = "elbv2.k8s.aws/v1beta1"
# fields of a TargetGroupBinding's spec the controller's webhook refuses to change
TGB_IMMUTABLE_FIELDS = ("targetGroupARN", "targetType", "ipAddressType", "vpcID")

Connectivity = Literal["privatelink", "routed"]


def account_root(account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """`arn:<partition>:iam::<account>:root`: the principal that lets any principal of an account
    (with ec2:CreateVpcEndpoint) create endpoints."""
    return pulumi.Output.concat("arn:", partition(region), ":iam::", account_id, ":root")


def rule_name(base: str, index: int) -> str:
    """A security group rule's resource name per CIDR block: the first block keeps the name rules
    had with one block (no replacement of deployed rules), the others `.cidr<index>` (a dot: never
    part of a cluster name, so no other rule's name)."""
    return base if index == 0 else f"{base}.cidr{index}"


@dataclass(frozen=True)
class GatewayConsumer:
    """A cluster that consumes at least one service of the producer."""

    name: str  # the consumer cluster's name
    account_id: pulumi.Input[str]  # its AWS account: an allowed principal of the endpoint service
    region: str  # its region: a supported region of the endpoint service when not the producer's
    # its VPC's CIDR blocks: admitted by the NLB's security group in routed mode
    vpc_cidrs: Sequence[pulumi.Input[str]]
    # the role that creates its endpoints (its deployer role): the endpoint service's allowed
    # principal; None: the account root (any principal of the account)
    role_arn: Optional[str] = None

    @property
    def principal(self) -> pulumi.Input[str]:
        return self.role_arn if self.role_arn is not None else account_root(self.account_id, self.region)


@dataclass(frozen=True)
class PrivateGatewayArgs:
    """The producer cluster, its VPC and the clusters that consume from it."""

    cluster: str  # the producer cluster's name
    region: str  # the producer's region (the endpoint service's home region)
    vpc_id: pulumi.Input[str]  # the producer VPC: NLB security group and target group
    # the producer VPC's CIDR blocks: where the NLB may send traffic and health checks (the pods)
    vpc_cidrs: Sequence[pulumi.Input[str]]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]  # the producer's private subnets: the NLB's
    connectivity: Connectivity  # privatelink (endpoint service) or routed (consumers reach the NLB)
    consumers: Sequence[GatewayConsumer]  # the clusters that consume a service of this producer
    aws_provider: aws.Provider  # the producer's aws.Provider
    k8s_provider: k8s.Provider  # the producer's kubernetes.Provider (the TargetGroupBinding)
    # the cluster's istio-system Namespace: the TargetGroupBinding lives in it
    istio_namespace: pulumi.Resource
    # primary-remote's primary: the NLB also carries istiod's ports (ISTIOD_PORTS) to the gateway,
    # which passes them to istiod (the remotes' proxies and API servers use them)
    istiod_ports: bool = False
    # routed: the consumers' VPCs are admitted on istiod's ports too (primary-remote's primary: the
    # remotes' proxies and API servers); otherwise only on the gateway port
    istiod_for_consumers: bool = False
    # VMs of the producer's VPC that join the mesh here (meshbridge:workloads): admitted on 15012
    istiod_clients: Sequence[str] = ()


# listener port -> gateway port of istiod's traffic through the primary's east-west gateway: xDS
# and CA on 15012; the webhooks on 443, because a remote's `istiod` Service is an ExternalName and
# its API server calls the webhook on the Service port (443), which the gateway serves on 15017
ISTIOD_PORTS = {15012: 15012, 443: 15017}


@dataclass(frozen=True)
class GatewayBindingArgs:
    """What the TargetGroupBinding of a PrivateGateway waits for besides the namespace and the listener."""

    # the east-west gateway release, whose Service the binding names
    depends_on: Sequence[Dependency] = field(default_factory=tuple)


class PrivateGateway(pulumi.ComponentResource):
    """Internal NLB in front of a producer's east-west gateway, and its PrivateLink service.

    Built in two steps: the constructor makes the AWS parts (whose addresses istiod's meshNetworks
    needs before the east-west gateway exists); `bind` then makes the TargetGroupBinding after the
    gateway release and registers the outputs. The component is complete after `bind`.
    """

    nlb_arn: pulumi.Output[str]
    nlb_dns_name: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    endpoint_service_name: Optional[pulumi.Output[str]]

    def __init__(self, name: str, args: PrivateGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:network:PrivateGateway", name, None, opts)
        self.args = args
        privatelink = args.connectivity == "privatelink"
        tags = {"Name": name, "meshbridge:role": "eastwest-gateway"}

        aws_opts = partial(child_opts, self, args.aws_provider)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-nlb-sg",
            description=f"meshbridge: internal NLB of the {args.cluster} east-west gateway",
            vpc_id=args.vpc_id,
            tags={**tags, "Name": f"{name}-nlb"},
            opts=aws_opts(),
        )
        sg_id = self.security_group.id
        self.gateway_ports = [GATEWAY_PORT, *(sorted(set(ISTIOD_PORTS.values())) if args.istiod_ports else [])]
        if not privatelink:
            # routed: the consumers' pods connect to the NLB directly from their VPC CIDRs (for
            # primary-remote's primary also the remotes' proxies on 15012 and API servers on 443)
            listened = [
                GATEWAY_PORT,
                *(sorted(ISTIOD_PORTS) if args.istiod_ports and args.istiod_for_consumers else []),
            ]
            for port in listened:
                what = "east-west gateway" if port == GATEWAY_PORT else "istiod"
                for consumer in args.consumers:
                    for i, block in enumerate(consumer.vpc_cidrs):
                        aws.vpc.SecurityGroupIngressRule(
                            rule_name(f"{name}-nlb-in-{port}-{consumer.name}", i),
                            security_group_id=sg_id,
                            description=f"{what} traffic from {consumer.name}",
                            ip_protocol="tcp",
                            from_port=port,
                            to_port=port,
                            cidr_ipv4=block,
                            opts=aws_opts(),
                        )
        # VMs in the producer's own VPC (meshbridge:workloads): their proxies reach istiod (xDS and CA)
        for address in args.istiod_clients:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nlb-in-15012-vm-{address.replace('.', '-')}",
                security_group_id=sg_id,
                description=f"istiod traffic from the VM {address}",
                ip_protocol="tcp",
                from_port=15012,
                to_port=15012,
                cidr_ipv4=f"{address}/32",
                opts=aws_opts(),
            )
        egress = [(GATEWAY_PORT, "forwarded traffic"), (HEALTH_PORT, "health checks")]
        egress += [(port, "istiod traffic") for port in self.gateway_ports if port != GATEWAY_PORT]
        for port, what in egress:
            for i, block in enumerate(args.vpc_cidrs):
                aws.vpc.SecurityGroupEgressRule(
                    rule_name(f"{name}-nlb-out-{port}", i),
                    security_group_id=sg_id,
                    description=f"{what} to the east-west gateway pods in {args.cluster}'s VPC",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=block,
                    opts=aws_opts(),
                )

        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            load_balancer_type="network",
            internal=True,
            subnets=args.subnet_ids,
            security_groups=[sg_id],
            enable_cross_zone_load_balancing=True,
            ip_address_type="ipv4",
            # PrivateLink traffic is admitted by the endpoint service's allowed principals and the
            # endpoint's security group in the consumer VPC (see the module docstring)
            enforce_security_group_inbound_rules_on_private_link_traffic="off" if privatelink else "on",
            tags=tags,
            opts=aws_opts(),
        )

        def target_group(resource: str, port: int) -> aws.lb.TargetGroup:
            # the gateway authenticates peers by mTLS, not by source address; without client IP
            # preservation the pods see the NLB's address, which the TargetGroupBinding admits
            return aws.lb.TargetGroup(
                resource,
                port=port,
                protocol="TCP",
                target_type="ip",
                vpc_id=args.vpc_id,
                ip_address_type="ipv4",
                preserve_client_ip="false",
                # the gateway pods drain for longer (components/istio.py, gateway_values): an NLB
                # keeps sending new flows to a deregistering target for a while
                deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    enabled=True,
                    protocol="HTTP",
                    port=str(HEALTH_PORT),
                    path=HEALTH_PATH,
                    matcher="200",
                    interval=10,
                    healthy_threshold=2,
                    unhealthy_threshold=2,
                ),
                tags=tags,
                opts=aws_opts(),
            )

        self.target_group = target_group(f"{name}-tg", GATEWAY_PORT)
        # istiod's ports (primary-remote's primary): one target group each (listeners: `bind`)
        self.istiod_target_groups: dict[int, aws.lb.TargetGroup] = {}
        for _, target in sorted(ISTIOD_PORTS.items()) if args.istiod_ports else []:
            self.istiod_target_groups[target] = target_group(f"{name}-tg-{target}", target)
        self._tags = tags

        self.endpoint_service = None
        self.endpoint_service_name = None
        if privatelink:
            # literal principals sorted and once each, then those known only after the infra stack's
            # outputs are read (an account from an infraStack), in consumer order
            literal = sorted({p for p in (c.principal for c in args.consumers) if isinstance(p, str)})
            dynamic = [p for p in (c.principal for c in args.consumers) if not isinstance(p, str)]
            other_regions = sorted({c.region for c in args.consumers if c.region != args.region})
            self.endpoint_service = aws.ec2.VpcEndpointService(
                f"{name}-endpoint-service",
                acceptance_required=False,
                network_load_balancer_arns=[self.load_balancer.arn],
                allowed_principals=[*literal, *dynamic],
                # cross-region PrivateLink: the consumers' regions (the home region is always served)
                supported_regions=sorted({args.region, *other_regions}) if other_regions else None,
                supported_ip_address_types=["ipv4"],
                tags=tags,
                opts=aws_opts(),
            )
            self.endpoint_service_name = self.endpoint_service.service_name

        self.nlb_arn = self.load_balancer.arn
        self.nlb_dns_name = self.load_balancer.dns_name
        self.target_group_arn = self.target_group.arn
        self.security_group_id = sg_id
        self._gateway_name = name

    def bind(self, binding: GatewayBindingArgs) -> k8s.apiextensions.CustomResource:
        """The TargetGroupBinding(s) after the east-west gateway release, each listener after the
        binding of its target group, then the outputs."""
        args, name, sg_id = self.args, self._gateway_name, self.security_group_id

        def listener(resource: str, port: int, tg: aws.lb.TargetGroup, after: pulumi.Resource) -> aws.lb.Listener:
            return aws.lb.Listener(
                resource,
                load_balancer_arn=self.load_balancer.arn,
                port=port,
                protocol="TCP",
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=tg.arn)],
                tags=self._tags,
                # a (new) target group gets its targets before the listener forwards to it; a new
                # NLB (a subnet swap) replaces the listener, and AWS refuses a listener forwarding to
                # a target group another NLB's listener still uses (TargetGroupAssociationLimit): the
                # old listener is deleted first
                opts=child_opts(self, args.aws_provider, depends_on=[after], delete_before_replace=True),
            )

        # the AWS Load Balancer Controller (a prerequisite in every producer cluster) registers the
        # istio-eastwestgateway pod IPs in the Pulumi-owned target group and opens the pods' security
        # group to the NLB's security group on the two ports
        def target_group_binding(
            resource: str, object_name: str, port: int, tg: aws.lb.TargetGroup
        ) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                resource,
                api_version=TGB_API_VERSION,
                kind="TargetGroupBinding",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=object_name,
                    namespace=ISTIO_NAMESPACE,
                    labels={**MANAGED_BY, PART_OF_LABEL: "meshbridge"},
                ),
                spec={
                    "serviceRef": {"name": EASTWEST_RELEASE, "port": port},
                    "targetGroupARN": tg.arn,
                    "targetType": "ip",
                    "ipAddressType": "ipv4",
                    "vpcID": args.vpc_id,
                    "networking": {
                        "ingress": [
                            {
                                "from": [{"securityGroup": {"groupID": sg_id}}],
                                "ports": [
                                    {"port": port, "protocol": "TCP"},
                                    {"port": HEALTH_PORT, "protocol": "TCP"},
                                ],
                            }
                        ]
                    },
                },
                opts=child_opts(
                    self,
                    args.k8s_provider,
                    depends_on=[args.istio_namespace, *binding.depends_on],
                    # the controller's webhook refuses a change of these fields and a second binding
                    # of one target group: a new target group gets a new binding, the old one first
                    replace_on_changes=[f"spec.{f}" for f in TGB_IMMUTABLE_FIELDS],
                    delete_before_replace=True,
                ),
            )

        self.target_group_binding = target_group_binding(
            f"{name}-tgb", EASTWEST_RELEASE, GATEWAY_PORT, self.target_group
        )
        self.listener = listener(f"{name}-listener", GATEWAY_PORT, self.target_group, self.target_group_binding)
        self.istiod_bindings: list[pulumi.Resource] = []
        self.istiod_listeners: list[pulumi.Resource] = []
        for listen, target in sorted(ISTIOD_PORTS.items()) if args.istiod_ports else []:
            tg = self.istiod_target_groups[target]
            tgb = target_group_binding(f"{name}-tgb-{target}", f"{EASTWEST_RELEASE}-{target}", target, tg)
            self.istiod_bindings.append(tgb)
            self.istiod_listeners.append(listener(f"{name}-listener-{listen}", listen, tg, tgb))
        self.register_outputs(
            {
                "nlbArn": self.nlb_arn,
                "nlbDnsName": self.nlb_dns_name,
                "targetGroupArn": self.target_group_arn,
                "securityGroupId": self.security_group_id,
                "endpointServiceName": self.endpoint_service_name,
            }
        )
        return self.target_group_binding


@dataclass(frozen=True)
class GatewayEndpointArgs:
    """One (consumer, producer) pair in privatelink mode: the endpoint lives in the consumer's VPC."""

    consumer: str  # the consumer cluster's name
    producer: str  # the producer cluster's name
    consumer_region: str  # the consumer's region (the endpoint's, the private zone's VPC region)
    producer_region: str  # the producer's region: `service_region` of the endpoint when different
    vpc_id: pulumi.Input[str]  # the consumer VPC
    # the consumer VPC's CIDR blocks: the only sources the endpoint admits
    vpc_cidrs: Sequence[pulumi.Input[str]]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]  # the consumer's private subnets
    # the producer's VpcEndpointService.service_name
    service_name: pulumi.Input[str]
    aws_provider: aws.Provider  # the consumer's aws.Provider
    # when set, a private hosted zone `<producer>.<gateway_dns>` in the consumer VPC aliases the endpoint
    gateway_dns: Optional[str] = None


class GatewayEndpoint(pulumi.ComponentResource):
    """Interface VPC endpoint in the consumer's VPC towards a producer's endpoint service."""

    address: pulumi.Output[str]
    endpoint_dns_name: pulumi.Output[str]

    def __init__(self, name: str, args: GatewayEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:network:GatewayEndpoint", name, None, opts)
        self.args = args
        tags = {"Name": name, "meshbridge:role": "gateway-endpoint", "meshbridge:producer": args.producer}

        aws_opts = partial(child_opts, self, args.aws_provider)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoint-sg",
            description=f"meshbridge: endpoint in {args.consumer} to the {args.producer} east-west gateway",
            vpc_id=args.vpc_id,
            tags={**tags, "Name": f"{name}-endpoint"},
            opts=aws_opts(),
        )
        # the endpoint only answers connections; no outbound rule is needed
        for i, block in enumerate(args.vpc_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                rule_name(f"{name}-endpoint-in-{GATEWAY_PORT}", i),
                security_group_id=self.security_group.id,
                description=f"{args.consumer} workloads to the {args.producer} east-west gateway",
                ip_protocol="tcp",
                from_port=GATEWAY_PORT,
                to_port=GATEWAY_PORT,
                cidr_ipv4=block,
                opts=aws_opts(),
            )
        self.endpoint = aws.ec2.VpcEndpoint(
            f"{name}-endpoint",
            vpc_id=args.vpc_id,
            vpc_endpoint_type="Interface",
            service_name=args.service_name,
            service_region=args.producer_region if args.producer_region != args.consumer_region else None,
            subnet_ids=args.subnet_ids,
            security_group_ids=[self.security_group.id],
            private_dns_enabled=False,
            ip_address_type="ipv4",
            tags=tags,
            opts=aws_opts(),
        )
        # the regional DNS name of the endpoint (resolves to its ENIs in every subnet)
        self.endpoint_dns_name = self.endpoint.dns_entries.apply(lambda entries: entries[0].dns_name)
        self.address = self.endpoint_dns_name

        self.zone = None
        self.record = None
        if args.gateway_dns:
            zone_name = f"{args.producer}.{args.gateway_dns}"
            self.zone = aws.route53.Zone(
                f"{name}-zone",
                name=zone_name,
                comment=f"meshbridge: {args.producer} east-west gateway as seen from {args.consumer}",
                vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args.vpc_id, vpc_region=args.consumer_region)],
                force_destroy=True,
                tags=tags,
                opts=aws_opts(),
            )
            self.record = aws.route53.Record(
                f"{name}-record",
                zone_id=self.zone.zone_id,
                name=zone_name,
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=self.endpoint_dns_name,
                        zone_id=self.endpoint.dns_entries.apply(lambda entries: entries[0].hosted_zone_id),
                        evaluate_target_health=False,
                    )
                ],
                opts=aws_opts(),
            )
            # the record's name (carries the dependency on the record)
            self.address = self.record.name

        self.register_outputs(
            {
                "endpointId": self.endpoint.id,
                "endpointDnsName": self.endpoint_dns_name,
                "securityGroupId": self.security_group.id,
                "address": self.address,
            }
        )
