"""The pulumi-aws resource types the e2e's AWS provider serves (tools/aws/provider.py), one `Spec` each.

Properties are pulumi-aws's (camelCase, as the engine sends them). A type, or an input property, that
is not listed here fails with an error naming it: this provider never ignores what it cannot do.

ForceNew (`force_new`, the `Diff`'s replacements) is read from terraform-provider-aws, whose schema
pulumi-aws 7.x bridges (read 2026 through the public-code index, main branch):
internal/service/ec2/vpc_.go (schema and resourceVPCCustomizeDiff), vpc_subnet.go (schema and its
CustomizeDiff), vpc_security_group.go, vpc_security_group_ingress_rule.go, vpc_endpoint.go,
vpc_endpoint_service.go, internal/service/elbv2/load_balancer.go (schema and
customizeDiffLoadBalancerNLB), target_group.go, listener.go. The two route53 entries are from
memory of internal/service/route53/zone.go and record.go (not re-read: marked "knowledge").

Checks the provider adds because moto skips them (a real API would fail):
- interface VpcEndpoint, serviceName: the endpoint service must exist, in the endpoint's service
  region, and admit the caller (its role, its account root or `*`), as AWS answers
  `InvalidServiceName` otherwise. moto's CreateVpcEndpoint takes any name, and its
  DescribeVpcEndpointServices only sees the caller's own account, so a consumer cannot see a
  producer's service there: the check asks each account of the emulated organization
  (MESHBRIDGE_AWS_ACCOUNTS) with moto's `x-moto-account-id` header. Only possible against moto;
  this tool never talks to anything else. (moto's model dump, `/moto-api/data.json`, was tried
  first: it fails with HTTP 500 once an interface endpoint exists, "Object of type
  NetworkInterface is not JSON serializable".) An endpoint service's supported regions are not
  checked: moto never returns them (DescribeVpcEndpointServiceConfigurations).
- interface VpcEndpoint, securityGroupIds: each group must exist in the endpoint's VPC
  (DescribeSecurityGroups with the caller's credentials); moto stores any id.
- interface VpcEndpoint, subnetIds: each subnet must be in the endpoint's VPC (moto only checks the
  subnet exists).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

Props = dict[str, Any]
# the accounts of the emulated organization (comma-separated), set by the e2e: where an endpoint
# service named by a consumer's endpoint is looked up
ACCOUNTS_ENV = "MESHBRIDGE_AWS_ACCOUNTS"


class ProviderError(Exception):
    """An error the engine shows as the operation's failure."""


@dataclass
class Ctx:
    """One configured provider: its region, account and credentials (after assumeRole)."""

    session: boto3.Session
    endpoint: str
    region: str
    account_id: str
    caller_arn: str
    default_tags: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        with self._lock:  # boto3 sessions are not thread-safe, their clients are
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint
                )
            return self._clients[service]

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id if region else ''}:{resource}"


@dataclass(frozen=True)
class Spec:
    token: str
    service: str  # the boto3 service
    create: Callable[[Ctx, Props], str]  # returns the id
    read: Callable[[Ctx, str, Props], Props | None]  # computed outputs (and what AWS reports); None: gone
    delete: Callable[[Ctx, str, Props], None]
    inputs: frozenset[str]  # every input property served
    force_new: frozenset[str]  # from terraform-provider-aws, see the module docstring
    updatable: dict[str, Callable[[Ctx, str, Props, Props], None]]  # property -> in-place update
    computed: tuple[str, ...]  # outputs unknown in a create preview
    tags: str | None = None  # how tags are written: "ec2" (id), "elbv2" (arn), "route53"; None: not taggable
    autoname: int | None = None  # `name` is generated from the resource name, at most this long
    defaults: Props = field(default_factory=dict)  # defaults pulumi-aws's Check fills in
    replace_if: Callable[[Props, Props], list[str]] | None = None  # ForceNew that depends on the change


def fail(token: str, prop: str, what: str) -> ProviderError:
    return ProviderError(f"{token}: property {prop!r}: {what}")


def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A boto3 call without None arguments."""
    return fn(**{k: v for k, v in kwargs.items() if v is not None})


def not_found(err: ClientError, *codes: str) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    return code in codes or code.endswith("NotFound") or code.endswith("NotFoundException")


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def all_tags(ctx: Ctx, props: Props) -> dict[str, str]:
    """pulumi-aws's tagsAll: the provider's defaultTags overridden by the resource's tags."""
    return {**ctx.default_tags, **(props.get("tags") or {})}


def ec2_tag_spec(ctx: Ctx, props: Props, kind: str) -> list[dict[str, Any]] | None:
    tags = all_tags(ctx, props)
    return [{"ResourceType": kind, "Tags": tag_list(tags)}] if tags else None


def write_tags(ctx: Ctx, spec: Spec, rid: str, arn: str, old: dict[str, str], new: dict[str, str]) -> None:
    gone = sorted(set(old) - set(new))
    put = {k: v for k, v in new.items() if old.get(k) != v}
    if spec.tags == "ec2":
        ec2 = ctx.client("ec2")
        if gone:
            ec2.delete_tags(Resources=[rid], Tags=[{"Key": k} for k in gone])
        if put:
            ec2.create_tags(Resources=[rid], Tags=tag_list(put))
    elif spec.tags == "elbv2":
        elb = ctx.client("elbv2")
        if gone:
            elb.remove_tags(ResourceArns=[arn], TagKeys=gone)
        if put:
            elb.add_tags(ResourceArns=[arn], Tags=tag_list(put))
    elif spec.tags == "route53":
        call(
            ctx.client("route53").change_tags_for_resource,
            ResourceType="hostedzone",
            ResourceId=rid,
            AddTags=tag_list(put) or None,
            RemoveTagKeys=gone or None,
        )
    else:
        raise fail(spec.token, "tags", "this type has no tags")


# --- aws:ec2/vpc:Vpc -------------------------------------------------------------------------------
# IPv4 only, from an explicit cidrBlock (no IPAM, no IPv6, default tenancy). As terraform's
# resourceVPCCreate: CreateVpc, then ModifyVpcAttribute (one attribute a call, as the API takes
# them) only for a flag that differs from what AWS gives a new VPC (DNS support on, hostnames off).
VPC = "aws:ec2/vpc:Vpc"


def vpc_dns_support(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").modify_vpc_attribute(VpcId=rid, EnableDnsSupport={"Value": bool(p["enableDnsSupport"])})


def vpc_dns_hostnames(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").modify_vpc_attribute(VpcId=rid, EnableDnsHostnames={"Value": bool(p["enableDnsHostnames"])})


def vpc_create(ctx: Ctx, p: Props) -> str:
    out = call(ctx.client("ec2").create_vpc, CidrBlock=p["cidrBlock"], TagSpecifications=ec2_tag_spec(ctx, p, "vpc"))
    vid = str(out["Vpc"]["VpcId"])
    if p.get("enableDnsHostnames") is True:  # Optional+Computed: unset leaves AWS's false
        vpc_dns_hostnames(ctx, vid, p)
    if p.get("enableDnsSupport") is False:
        vpc_dns_support(ctx, vid, p)
    return vid


def vpc_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    ec2 = ctx.client("ec2")
    try:
        vpc = ec2.describe_vpcs(VpcIds=[rid])["Vpcs"][0]
    except ClientError as err:
        if not_found(err):
            return None
        raise
    mine = [{"Name": "vpc-id", "Values": [rid]}]
    main = ec2.describe_route_tables(Filters=[*mine, {"Name": "association.main", "Values": ["true"]}])
    group = ec2.describe_security_groups(Filters=[*mine, {"Name": "group-name", "Values": ["default"]}])
    acl = ec2.describe_network_acls(Filters=[*mine, {"Name": "default", "Values": ["true"]}])
    route_table = next((t["RouteTableId"] for t in main["RouteTables"]), None)
    attr = ec2.describe_vpc_attribute
    return {
        "arn": ctx.arn("ec2", f"vpc/{rid}"),
        "cidrBlock": vpc["CidrBlock"],
        "instanceTenancy": vpc.get("InstanceTenancy"),
        "ownerId": vpc["OwnerId"],
        "enableDnsSupport": attr(VpcId=rid, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"],
        "enableDnsHostnames": attr(VpcId=rid, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"],
        "mainRouteTableId": route_table,
        "defaultRouteTableId": route_table,
        "defaultSecurityGroupId": next((g["GroupId"] for g in group["SecurityGroups"]), None),
        "defaultNetworkAclId": next((a["NetworkAclId"] for a in acl["NetworkAcls"]), None),
    }


def vpc_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").delete_vpc(VpcId=rid)


# --- aws:ec2/subnet:Subnet -------------------------------------------------------------------------
# IPv4 only, from an explicit cidrBlock and availabilityZone (no IPAM, IPv6, Outposts).
SUBNET = "aws:ec2/subnet:Subnet"


def subnet_public_ip(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").modify_subnet_attribute(
        SubnetId=rid, MapPublicIpOnLaunch={"Value": bool(p.get("mapPublicIpOnLaunch"))}
    )


def subnet_create(ctx: Ctx, p: Props) -> str:
    out = call(
        ctx.client("ec2").create_subnet,
        VpcId=p["vpcId"],
        CidrBlock=p["cidrBlock"],
        AvailabilityZone=p.get("availabilityZone"),
        TagSpecifications=ec2_tag_spec(ctx, p, "subnet"),
    )
    sid = str(out["Subnet"]["SubnetId"])
    if p.get("mapPublicIpOnLaunch"):
        subnet_public_ip(ctx, sid, p)
    return sid


def subnet_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        sn = ctx.client("ec2").describe_subnets(SubnetIds=[rid])["Subnets"][0]
    except ClientError as err:
        if not_found(err):
            return None
        raise
    return {
        "arn": sn.get("SubnetArn") or ctx.arn("ec2", f"subnet/{rid}"),
        "availabilityZone": sn["AvailabilityZone"],
        "availabilityZoneId": sn.get("AvailabilityZoneId"),
        "cidrBlock": sn["CidrBlock"],
        "mapPublicIpOnLaunch": sn.get("MapPublicIpOnLaunch", False),
        "ownerId": sn["OwnerId"],
        "vpcId": sn["VpcId"],
    }


def subnet_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").delete_subnet(SubnetId=rid)


# --- aws:ec2/securityGroup:SecurityGroup ------------------------------------------------------------
# Egress: terraform-provider-aws (resourceSecurityGroupCreate) ALWAYS revokes AWS's default
# allow-all egress rule (-1, 0.0.0.0/0, and ::/0 where present) right after CreateSecurityGroup,
# whether `egress` is given or not ("so users don't unknowingly have/use it"); an absent `egress` is
# then Computed and left alone on update. So does this provider. The program manages every rule as
# a separate aws:vpc rule resource, and no rule anywhere may admit 0.0.0.0/0. Inline `ingress` and
# `egress` are not served (they fail).
SG = "aws:ec2/securityGroup:SecurityGroup"


def sg_create(ctx: Ctx, p: Props) -> str:
    ec2 = ctx.client("ec2")
    out = call(
        ec2.create_security_group,
        GroupName=p["name"],
        Description=p["description"],
        VpcId=p.get("vpcId"),
        TagSpecifications=ec2_tag_spec(ctx, p, "security-group"),
    )
    gid = out["GroupId"]
    default = {"IpProtocol": "-1", "FromPort": 0, "ToPort": 0}
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{**default, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    try:
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{**default, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    except ClientError as err:  # no IPv6 default rule in a VPC without IPv6 (terraform ignores the same)
        if not not_found(err, "InvalidParameterValue"):
            raise
    return str(gid)


def sg_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        sg = ctx.client("ec2").describe_security_groups(GroupIds=[rid])["SecurityGroups"][0]
    except ClientError as err:
        if not_found(err):
            return None
        raise
    return {
        "arn": ctx.arn("ec2", f"security-group/{rid}"),
        "ownerId": sg["OwnerId"],
        "name": sg["GroupName"],
        "description": sg["Description"],
        "vpcId": sg.get("VpcId"),
    }


def sg_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("ec2").delete_security_group(GroupId=rid)


# --- aws:vpc/securityGroupIngressRule, aws:vpc/securityGroupEgressRule -----------------------------
RULE_SOURCES = ("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId")


def rule_body(p: Props) -> dict[str, Any]:
    """The rule as ModifySecurityGroupRules takes it (SecurityGroupRuleRequest)."""
    body = {"IpProtocol": p["ipProtocol"], "FromPort": p.get("fromPort", -1), "ToPort": p.get("toPort", -1)}
    keys = {"cidrIpv4": "CidrIpv4", "cidrIpv6": "CidrIpv6", "prefixListId": "PrefixListId"}
    keys["referencedSecurityGroupId"] = "ReferencedGroupId"
    keys["description"] = "Description"
    body.update({aws: p[k] for k, aws in keys.items() if p.get(k) is not None})
    return body


def rule_permission(token: str, p: Props) -> dict[str, Any]:
    sources = [k for k in RULE_SOURCES if p.get(k) is not None]
    if len(sources) != 1:
        raise fail(token, "cidrIpv4", f"exactly one of {', '.join(RULE_SOURCES)} is required, got {sources}")
    desc = {"Description": p["description"]} if p.get("description") is not None else {}
    perm: dict[str, Any] = {"IpProtocol": p["ipProtocol"], "FromPort": p.get("fromPort", -1)}
    perm["ToPort"] = p.get("toPort", -1)
    src = sources[0]
    if src == "cidrIpv4":
        perm["IpRanges"] = [{"CidrIp": p[src], **desc}]
    elif src == "cidrIpv6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": p[src], **desc}]
    elif src == "prefixListId":
        perm["PrefixListIds"] = [{"PrefixListId": p[src], **desc}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": p[src], **desc}]
    return perm


def rule_spec(direction: str) -> Spec:
    token = f"aws:vpc/securityGroup{direction}Rule:SecurityGroup{direction}Rule"
    egress = direction == "Egress"

    def create(ctx: Ctx, p: Props) -> str:
        ec2 = ctx.client("ec2")
        authorize = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
        out = call(
            authorize,
            GroupId=p["securityGroupId"],
            IpPermissions=[rule_permission(token, p)],
            TagSpecifications=ec2_tag_spec(ctx, p, "security-group-rule"),
        )
        rules = out.get("SecurityGroupRules") or []
        if len(rules) != 1:
            raise ProviderError(f"{token}: Authorize answered {len(rules)} rules, expected 1: {out}")
        return str(rules[0]["SecurityGroupRuleId"])

    def read(ctx: Ctx, rid: str, p: Props) -> Props | None:
        try:
            rules = ctx.client("ec2").describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
        except ClientError as err:
            if not_found(err):
                return None
            raise
        if not rules:
            return None
        return {"securityGroupRuleId": rid, "arn": ctx.arn("ec2", f"security-group-rule/{rid}")}

    def modify(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
        ctx.client("ec2").modify_security_group_rules(
            GroupId=new["securityGroupId"],
            SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": rule_body(new)}],
        )

    def delete(ctx: Ctx, rid: str, p: Props) -> None:
        ec2 = ctx.client("ec2")
        revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
        revoke(GroupId=p["securityGroupId"], SecurityGroupRuleIds=[rid])

    def source_kind_changed(old: Props, new: Props) -> list[str]:
        # ModifyPlan: "When you modify a rule, you cannot change the rule's source type"
        kinds = [[k for k in RULE_SOURCES if p.get(k) is not None] for p in (old, new)]
        return sorted(set(kinds[0]) | set(kinds[1])) if kinds[0] != kinds[1] else []

    in_place = ("description", "fromPort", "toPort", "ipProtocol", *RULE_SOURCES)
    return Spec(
        token=token,
        service="ec2",
        create=create,
        read=read,
        delete=delete,
        inputs=frozenset({"securityGroupId", "tags", *in_place}),
        force_new=frozenset({"securityGroupId"}),  # vpc_security_group_ingress_rule.go: RequiresReplace
        updatable=dict.fromkeys(in_place, modify),
        computed=("arn", "securityGroupRuleId", "tagsAll"),
        tags="ec2",
        replace_if=source_kind_changed,
    )


# --- aws:lb/loadBalancer:LoadBalancer ---------------------------------------------------------------
LB = "aws:lb/loadBalancer:LoadBalancer"


def lb_set_groups(ctx: Ctx, rid: str, p: Props) -> None:
    call(
        ctx.client("elbv2").set_security_groups,
        LoadBalancerArn=rid,
        SecurityGroups=p.get("securityGroups") or [],
        EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=p.get(
            "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"
        ),
    )


def lb_cross_zone(ctx: Ctx, rid: str, p: Props) -> None:
    value = "true" if p.get("enableCrossZoneLoadBalancing") else "false"
    ctx.client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=rid, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": value}]
    )


def lb_create(ctx: Ctx, p: Props) -> str:
    elb = ctx.client("elbv2")
    out = call(
        elb.create_load_balancer,
        Name=p["name"],
        Subnets=p.get("subnets"),
        SecurityGroups=p.get("securityGroups"),
        Scheme="internal" if p.get("internal") else "internet-facing",
        Type=p["loadBalancerType"],
        IpAddressType=p.get("ipAddressType"),
        Tags=tag_list(all_tags(ctx, p)) or None,
    )
    arn = str(out["LoadBalancers"][0]["LoadBalancerArn"])
    if "enableCrossZoneLoadBalancing" in p:
        lb_cross_zone(ctx, arn, p)
    if p.get("enforceSecurityGroupInboundRulesOnPrivateLinkTraffic") is not None:
        lb_set_groups(ctx, arn, p)
    return arn


def lb_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        lb = ctx.client("elbv2").describe_load_balancers(LoadBalancerArns=[rid])["LoadBalancers"][0]
    except ClientError as err:
        if not_found(err, "LoadBalancerNotFound"):
            return None
        raise
    out = {
        "arn": rid,
        "arnSuffix": rid.split(":loadbalancer/", 1)[1],
        "dnsName": lb["DNSName"],
        "zoneId": lb["CanonicalHostedZoneId"],
        "vpcId": lb["VpcId"],
        "name": lb["LoadBalancerName"],
        "internal": lb["Scheme"] == "internal",
        "subnets": sorted(az["SubnetId"] for az in lb.get("AvailabilityZones", [])),
        "securityGroups": sorted(lb.get("SecurityGroups", [])),
    }
    # moto does not keep this setting (SetSecurityGroups ignores it): only what AWS reports replaces the input
    enforce = lb.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    if enforce is not None:
        out["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] = enforce
    return out


def lb_subnets(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    ctx.client("elbv2").set_subnets(LoadBalancerArn=rid, Subnets=new["subnets"])


def lb_replace_if(old: Props, new: Props) -> list[str]:
    # customizeDiffLoadBalancerNLB: an NLB's subnets may only grow in place; security groups can
    # neither be added to an NLB without any nor all be removed
    if new.get("loadBalancerType") != "network":
        return []
    out = []
    o, n = old.get("subnets") or [], new.get("subnets") or []
    if o != n and len(n) <= len(o):
        out.append("subnets")
    og, ng = old.get("securityGroups") or [], new.get("securityGroups") or []
    if og != ng and (not og or not ng):
        out.append("securityGroups")
    return out


def lb_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("elbv2").delete_load_balancer(LoadBalancerArn=rid)


# --- aws:lb/targetGroup:TargetGroup -----------------------------------------------------------------
TG = "aws:lb/targetGroup:TargetGroup"
HEALTH = {
    "enabled": "HealthCheckEnabled",
    "protocol": "HealthCheckProtocol",
    "port": "HealthCheckPort",
    "path": "HealthCheckPath",
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthyThreshold": "HealthyThresholdCount",
    "unhealthyThreshold": "UnhealthyThresholdCount",
}


def tg_health(p: Props) -> dict[str, Any]:
    hc = p.get("healthCheck") or {}
    unknown = set(hc) - set(HEALTH) - {"matcher"}
    if unknown:
        raise fail(TG, f"healthCheck.{sorted(unknown)[0]}", "not served by this test provider")
    out: dict[str, Any] = {aws: hc[k] for k, aws in HEALTH.items() if k in hc}
    if "matcher" in hc:
        out["Matcher"] = {"HttpCode": hc["matcher"]}
    return out


def tg_attributes(ctx: Ctx, rid: str, p: Props) -> None:
    attrs = []
    if p.get("deregistrationDelay") is not None:
        attrs.append({"Key": "deregistration_delay.timeout_seconds", "Value": str(p["deregistrationDelay"])})
    if p.get("preserveClientIp") is not None:
        attrs.append({"Key": "preserve_client_ip.enabled", "Value": str(p["preserveClientIp"]).lower()})
    if attrs:
        ctx.client("elbv2").modify_target_group_attributes(TargetGroupArn=rid, Attributes=attrs)


def tg_create(ctx: Ctx, p: Props) -> str:
    out = call(
        ctx.client("elbv2").create_target_group,
        Name=p["name"],
        Protocol=p.get("protocol"),
        ProtocolVersion=p.get("protocolVersion"),
        Port=p.get("port"),
        VpcId=p.get("vpcId"),
        TargetType=p["targetType"],
        IpAddressType=p.get("ipAddressType"),
        Tags=tag_list(all_tags(ctx, p)) or None,
        **tg_health(p),
    )
    arn = str(out["TargetGroups"][0]["TargetGroupArn"])
    tg_attributes(ctx, arn, p)
    return arn


def tg_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        tg = ctx.client("elbv2").describe_target_groups(TargetGroupArns=[rid])["TargetGroups"][0]
    except ClientError as err:
        if not_found(err, "TargetGroupNotFound"):
            return None
        raise
    return {
        "arn": rid,
        "arnSuffix": rid.split(":", 5)[5],
        "name": tg["TargetGroupName"],
        "loadBalancerArns": sorted(tg.get("LoadBalancerArns", [])),
    }


def tg_modify_health(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    ctx.client("elbv2").modify_target_group(TargetGroupArn=rid, **tg_health(new))


def tg_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("elbv2").delete_target_group(TargetGroupArn=rid)


# --- aws:lb/listener:Listener -----------------------------------------------------------------------
LISTENER = "aws:lb/listener:Listener"


def listener_actions(p: Props) -> list[dict[str, Any]]:
    actions = []
    for i, a in enumerate(p.get("defaultActions") or []):
        if a.get("type") != "forward" or not a.get("targetGroupArn") or set(a) - {"type", "targetGroupArn", "order"}:
            raise fail(LISTENER, f"defaultActions[{i}]", f"only {{type: forward, targetGroupArn}} is served: {a}")
        actions.append({"Type": "forward", "TargetGroupArn": a["targetGroupArn"]})
    if not actions:
        raise fail(LISTENER, "defaultActions", "required")
    return actions


def listener_create(ctx: Ctx, p: Props) -> str:
    out = call(
        ctx.client("elbv2").create_listener,
        LoadBalancerArn=p["loadBalancerArn"],
        Port=p.get("port"),
        Protocol=p.get("protocol"),
        DefaultActions=listener_actions(p),
        Tags=tag_list(all_tags(ctx, p)) or None,
    )
    return str(out["Listeners"][0]["ListenerArn"])


def listener_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        ls = ctx.client("elbv2").describe_listeners(ListenerArns=[rid])["Listeners"][0]
    except ClientError as err:
        if not_found(err, "ListenerNotFound"):
            return None
        raise
    return {"arn": rid, "port": ls.get("Port"), "protocol": ls.get("Protocol")}


def listener_modify(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    call(
        ctx.client("elbv2").modify_listener,
        ListenerArn=rid,
        Port=new.get("port"),
        Protocol=new.get("protocol"),
        DefaultActions=listener_actions(new),
    )


def listener_delete(ctx: Ctx, rid: str, p: Props) -> None:
    ctx.client("elbv2").delete_listener(ListenerArn=rid)


# --- aws:ec2/vpcEndpointService:VpcEndpointService --------------------------------------------------
ES = "aws:ec2/vpcEndpointService:VpcEndpointService"


def es_create(ctx: Ctx, p: Props) -> str:
    ec2 = ctx.client("ec2")
    out = call(
        ec2.create_vpc_endpoint_service_configuration,
        AcceptanceRequired=p["acceptanceRequired"],
        NetworkLoadBalancerArns=p.get("networkLoadBalancerArns"),
        SupportedRegions=p.get("supportedRegions"),
        SupportedIpAddressTypes=p.get("supportedIpAddressTypes"),
        PrivateDnsName=p.get("privateDnsName"),
        TagSpecifications=ec2_tag_spec(ctx, p, "vpc-endpoint-service"),
    )
    sid = str(out["ServiceConfiguration"]["ServiceId"])
    if p.get("allowedPrincipals"):
        ec2.modify_vpc_endpoint_service_permissions(ServiceId=sid, AddAllowedPrincipals=p["allowedPrincipals"])
    return sid


def es_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    ec2 = ctx.client("ec2")
    try:
        cfg = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[rid])["ServiceConfigurations"][0]
    except ClientError as err:
        if not_found(err, "InvalidVpcEndpointServiceId.NotFound"):
            return None
        raise
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=rid)["AllowedPrincipals"]
    return {
        "arn": ctx.arn("ec2", f"vpc-endpoint-service/{rid}"),
        "serviceName": cfg["ServiceName"],
        "serviceType": cfg["ServiceType"][0]["ServiceType"],
        "state": cfg.get("ServiceState"),
        "availabilityZones": sorted(cfg.get("AvailabilityZones", [])),
        "baseEndpointDnsNames": sorted(cfg.get("BaseEndpointDnsNames", [])),
        "managesVpcEndpoints": cfg.get("ManagesVpcEndpoints", False),
        "privateDnsName": cfg.get("PrivateDnsName") or "",
        "allowedPrincipals": sorted(x["Principal"] for x in perms),
        "networkLoadBalancerArns": sorted(cfg.get("NetworkLoadBalancerArns", [])),
    }


def added_removed(old: Props, new: Props, key: str) -> tuple[list[str] | None, list[str] | None]:
    o, n = set(old.get(key) or []), set(new.get(key) or [])
    return sorted(n - o) or None, sorted(o - n) or None


def es_principals(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    add, remove = added_removed(old, new, "allowedPrincipals")
    call(
        ctx.client("ec2").modify_vpc_endpoint_service_permissions,
        ServiceId=rid,
        AddAllowedPrincipals=add,
        RemoveAllowedPrincipals=remove,
    )


def es_modify(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    nlb_add, nlb_remove = added_removed(old, new, "networkLoadBalancerArns")
    reg_add, reg_remove = added_removed(old, new, "supportedRegions")
    ip_add, ip_remove = added_removed(old, new, "supportedIpAddressTypes")
    call(
        ctx.client("ec2").modify_vpc_endpoint_service_configuration,
        ServiceId=rid,
        AcceptanceRequired=new["acceptanceRequired"]
        if old.get("acceptanceRequired") != new["acceptanceRequired"]
        else None,
        PrivateDnsName=new.get("privateDnsName") if old.get("privateDnsName") != new.get("privateDnsName") else None,
        AddNetworkLoadBalancerArns=nlb_add,
        RemoveNetworkLoadBalancerArns=nlb_remove,
        AddSupportedRegions=reg_add,
        RemoveSupportedRegions=reg_remove,
        AddSupportedIpAddressTypes=ip_add,
        RemoveSupportedIpAddressTypes=ip_remove,
    )


def es_delete(ctx: Ctx, rid: str, p: Props) -> None:
    out = ctx.client("ec2").delete_vpc_endpoint_service_configurations(ServiceIds=[rid])
    if out.get("Unsuccessful"):
        raise ProviderError(f"{ES}: deleting {rid}: {out['Unsuccessful']}")


# --- aws:ec2/vpcEndpoint:VpcEndpoint ----------------------------------------------------------------
EP = "aws:ec2/vpcEndpoint:VpcEndpoint"


def moto_endpoint_service(ctx: Ctx, name: str, region: str) -> list[str] | None:
    """The principals the endpoint service `name` admits, looked up in every account of the
    emulated organization (MESHBRIDGE_AWS_ACCOUNTS, set by the e2e) through moto's account header;
    None when no account holds it (see the module docstring)."""
    accounts = [a for a in os.environ.get(ACCOUNTS_ENV, "").split(",") if a]
    if not accounts:
        raise ProviderError(f"{EP}: {ACCOUNTS_ENV} is not set: the endpoint service {name!r} cannot be looked up")
    for account in accounts:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=ctx.endpoint)

        def in_account(request: Any, account: str = account, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        ec2.meta.events.register("before-sign.ec2.*", in_account)
        for svc in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]:
            if svc["ServiceName"] == name:
                perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"])
                return [x["Principal"] for x in perms["AllowedPrincipals"]]
    return None


def ep_check(ctx: Ctx, p: Props) -> None:
    """What AWS refuses and moto accepts (the module docstring's list)."""
    name, region = p["serviceName"], p.get("serviceRegion") or ctx.region
    role = ctx.caller_arn.replace(":sts::", ":iam::").replace(":assumed-role/", ":role/").rsplit("/", 1)[0]
    callers = {"*", f"arn:aws:iam::{ctx.account_id}:root", ctx.caller_arn, role}
    if f".{region}." not in name:
        raise fail(EP, "serviceRegion", f"the service {name!r} is not in region {region!r}")
    principals = moto_endpoint_service(ctx, name, region)
    if principals is None:
        raise fail(EP, "serviceName", f"InvalidServiceName: the VPC endpoint service {name!r} does not exist")
    if not callers & set(principals):
        raise fail(EP, "serviceName", f"InvalidServiceName: {name!r} does not admit {sorted(callers - {'*'})}")
    ec2 = ctx.client("ec2")
    groups = p.get("securityGroupIds") or []
    if groups:
        try:
            found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
        except ClientError as err:
            raise fail(EP, "securityGroupIds", str(err)) from err
        if sorted(g["GroupId"] for g in found if g.get("VpcId") == p["vpcId"]) != sorted(groups):
            raise fail(EP, "securityGroupIds", f"not all of {groups} are security groups of {p['vpcId']}")
    subnets = p.get("subnetIds") or []
    if subnets:
        found = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        if sorted(s["SubnetId"] for s in found if s["VpcId"] == p["vpcId"]) != sorted(subnets):
            raise fail(EP, "subnetIds", f"not all of {subnets} are subnets of {p['vpcId']}")


def ep_create(ctx: Ctx, p: Props) -> str:
    if p.get("vpcEndpointType") != "Interface":
        raise fail(EP, "vpcEndpointType", f"only Interface endpoints are served, not {p.get('vpcEndpointType')!r}")
    ep_check(ctx, p)
    out = call(
        ctx.client("ec2").create_vpc_endpoint,
        VpcId=p["vpcId"],
        VpcEndpointType="Interface",
        ServiceName=p["serviceName"],
        ServiceRegion=p.get("serviceRegion"),
        SubnetIds=p.get("subnetIds"),
        SecurityGroupIds=p.get("securityGroupIds"),
        PrivateDnsEnabled=p.get("privateDnsEnabled"),
        IpAddressType=p.get("ipAddressType"),
        ClientToken=str(uuid.uuid4()),
        TagSpecifications=ec2_tag_spec(ctx, p, "vpc-endpoint"),
    )
    return str(out["VpcEndpoint"]["VpcEndpointId"])


def ep_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        eps = ctx.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[rid])["VpcEndpoints"]
    except ClientError as err:
        if not_found(err, "InvalidVpcEndpointId.NotFound"):
            return None
        raise
    if not eps or eps[0].get("State", "").lower() in ("deleted", "deleting"):
        return None
    ep = eps[0]
    return {
        "arn": ctx.arn("ec2", f"vpc-endpoint/{rid}"),
        "dnsEntries": [{"dnsName": d["DnsName"], "hostedZoneId": d["HostedZoneId"]} for d in ep.get("DnsEntries", [])],
        "networkInterfaceIds": sorted(ep.get("NetworkInterfaceIds", [])),
        "ownerId": ep.get("OwnerId", ctx.account_id),
        "state": ep.get("State"),
        "requesterManaged": ep.get("RequesterManaged", False),
        "subnetIds": sorted(ep.get("SubnetIds", [])),
        "securityGroupIds": sorted(g["GroupId"] for g in ep.get("Groups", [])),
    }


def ep_modify(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    sub_add, sub_remove = added_removed(old, new, "subnetIds")
    sg_add, sg_remove = added_removed(old, new, "securityGroupIds")
    dns = new.get("privateDnsEnabled") if old.get("privateDnsEnabled") != new.get("privateDnsEnabled") else None
    call(
        ctx.client("ec2").modify_vpc_endpoint,
        VpcEndpointId=rid,
        AddSubnetIds=sub_add,
        RemoveSubnetIds=sub_remove,
        AddSecurityGroupIds=sg_add,
        RemoveSecurityGroupIds=sg_remove,
        PrivateDnsEnabled=dns,
    )


def ep_delete(ctx: Ctx, rid: str, p: Props) -> None:
    out = ctx.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[rid])
    if out.get("Unsuccessful"):
        raise ProviderError(f"{EP}: deleting {rid}: {out['Unsuccessful']}")


# --- aws:route53/zone:Zone --------------------------------------------------------------------------
ZONE = "aws:route53/zone:Zone"


def zone_create(ctx: Ctx, p: Props) -> str:
    vpcs = p.get("vpcs") or []
    if not vpcs:
        raise fail(ZONE, "vpcs", "only private zones (with vpcs) are served")
    r53 = ctx.client("route53")
    first = {"VPCId": vpcs[0]["vpcId"], "VPCRegion": vpcs[0].get("vpcRegion") or ctx.region}
    out = r53.create_hosted_zone(
        Name=p["name"],
        CallerReference=str(uuid.uuid4()),
        HostedZoneConfig={"Comment": p.get("comment", ""), "PrivateZone": True},
        VPC=first,
    )
    zid = str(out["HostedZone"]["Id"]).rsplit("/", 1)[-1]
    for v in vpcs[1:]:
        r53.associate_vpc_with_hosted_zone(
            HostedZoneId=zid, VPC={"VPCId": v["vpcId"], "VPCRegion": v.get("vpcRegion") or ctx.region}
        )
    tags = all_tags(ctx, p)
    if tags:
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, AddTags=tag_list(tags))
    return zid


def zone_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        out = ctx.client("route53").get_hosted_zone(Id=rid)
    except ClientError as err:
        if not_found(err, "NoSuchHostedZone"):
            return None
        raise
    return {
        "zoneId": rid,
        "arn": f"arn:aws:route53:::hostedzone/{rid}",
        "nameServers": sorted(out.get("DelegationSet", {}).get("NameServers", [])),
        "primaryNameServer": (out.get("DelegationSet", {}).get("NameServers") or [""])[0],
        "vpcs": [{"vpcId": v["VPCId"], "vpcRegion": v["VPCRegion"]} for v in out.get("VPCs", [])],
    }


def zone_comment(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    ctx.client("route53").update_hosted_zone_comment(Id=rid, Comment=new.get("comment", ""))


def zone_delete(ctx: Ctx, rid: str, p: Props) -> None:
    r53 = ctx.client("route53")
    if p.get("forceDestroy"):
        sets = r53.list_resource_record_sets(HostedZoneId=rid)["ResourceRecordSets"]
        apex = p["name"].rstrip(".") + "."
        doomed = [s for s in sets if not (s["Type"] in ("SOA", "NS") and s["Name"] == apex)]
        if doomed:
            batch = {"Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in doomed]}
            r53.change_resource_record_sets(HostedZoneId=rid, ChangeBatch=batch)
    r53.delete_hosted_zone(Id=rid)


# --- aws:route53/record:Record ----------------------------------------------------------------------
RECORD = "aws:route53/record:Record"


def record_set(p: Props) -> dict[str, Any]:
    rs: dict[str, Any] = {"Name": p["name"], "Type": p["type"]}
    aliases = p.get("aliases") or []
    if len(aliases) > 1:
        raise fail(RECORD, "aliases", "at most one alias")
    if aliases:
        a = aliases[0]
        rs["AliasTarget"] = {
            "DNSName": a["name"],
            "HostedZoneId": a["zoneId"],
            "EvaluateTargetHealth": a["evaluateTargetHealth"],
        }
    else:
        if "ttl" not in p or not p.get("records"):
            raise fail(RECORD, "records", "records and ttl are required without an alias")
        rs["TTL"] = p["ttl"]
        rs["ResourceRecords"] = [{"Value": v} for v in p["records"]]
    return rs


def record_id(p: Props) -> str:
    # terraform: zoneid_name_type (set identifier appended when present); name without the final dot
    return "_".join(x for x in (p["zoneId"], p["name"].rstrip(".").lower(), p["type"], p.get("setIdentifier")) if x)


def record_change(ctx: Ctx, zone: str, *changes: tuple[str, Props]) -> None:
    batch = {"Changes": [{"Action": action, "ResourceRecordSet": record_set(p)} for action, p in changes]}
    ctx.client("route53").change_resource_record_sets(HostedZoneId=zone, ChangeBatch=batch)


def record_create(ctx: Ctx, p: Props) -> str:
    record_change(ctx, p["zoneId"], ("UPSERT" if p.get("allowOverwrite") else "CREATE", p))
    return record_id(p)


def record_read(ctx: Ctx, rid: str, p: Props) -> Props | None:
    try:
        sets = ctx.client("route53").list_resource_record_sets(
            HostedZoneId=p["zoneId"], StartRecordName=p["name"], StartRecordType=p["type"], MaxItems="1"
        )["ResourceRecordSets"]
    except ClientError as err:
        if not_found(err, "NoSuchHostedZone"):
            return None
        raise
    want = p["name"].rstrip(".").lower() + "."
    if not sets or sets[0]["Name"].lower() != want or sets[0]["Type"] != p["type"]:
        return None
    return {"fqdn": p["name"].rstrip(".").lower()}


def record_update(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    if old["type"] != new["type"]:
        record_change(ctx, new["zoneId"], ("DELETE", old), ("CREATE", new))
    else:
        record_change(ctx, new["zoneId"], ("UPSERT", new))


def record_delete(ctx: Ctx, rid: str, p: Props) -> None:
    record_change(ctx, p["zoneId"], ("DELETE", p))


def state_only(ctx: Ctx, rid: str, old: Props, new: Props) -> None:
    """A property only the provider reads (e.g. forceDestroy): nothing to change in AWS."""


def names(words: str) -> frozenset[str]:
    return frozenset(words.split())


def keep(fn: Callable[[Ctx, str, Props], None]) -> Callable[[Ctx, str, Props, Props], None]:
    """An in-place update that only needs the new inputs."""
    return lambda ctx, rid, old, new: fn(ctx, rid, new)


LB_INPUTS = (
    "name namePrefix loadBalancerType internal subnets securityGroups enableCrossZoneLoadBalancing ipAddressType"
)
TG_INPUTS = "name namePrefix port protocol protocolVersion targetType vpcId ipAddressType preserveClientIp"
ES_MODIFY = "acceptanceRequired networkLoadBalancerArns supportedRegions supportedIpAddressTypes privateDnsName"
EP_INPUTS = "vpcId vpcEndpointType serviceName serviceRegion subnetIds securityGroupIds privateDnsEnabled ipAddressType"
# fmt: off
SPECS: dict[str, Spec] = {
    s.token: s
    for s in (
        Spec(
            VPC, "ec2", vpc_create, vpc_read, vpc_delete,
            inputs=names("cidrBlock enableDnsSupport enableDnsHostnames tags"),
            # vpc_.go: schema, plus resourceVPCCustomizeDiff: cidrBlock always (no ipv4NetmaskLength is
            # served); instanceTenancy replaces unless dedicated -> default (not served: Check fails it)
            force_new=names("cidrBlock ipv4IpamPoolId ipv4NetmaskLength"),
            updatable={"enableDnsSupport": keep(vpc_dns_support), "enableDnsHostnames": keep(vpc_dns_hostnames)},
            computed=("arn", "defaultNetworkAclId", "defaultRouteTableId", "defaultSecurityGroupId",
                      "enableDnsHostnames", "instanceTenancy", "mainRouteTableId", "ownerId", "tagsAll"),
            tags="ec2", defaults={"enableDnsSupport": True},
        ),
        Spec(
            SUBNET, "ec2", subnet_create, subnet_read, subnet_delete,
            inputs=names("vpcId cidrBlock availabilityZone mapPublicIpOnLaunch tags"),
            # vpc_subnet.go (also ipv6CidrBlock, ForceNewIf assignIpv6AddressOnCreation was on: not served)
            force_new=names("availabilityZone availabilityZoneId cidrBlock ipv4IpamPoolId ipv4NetmaskLength "
                            "ipv6IpamPoolId ipv6Native ipv6NetmaskLength outpostArn vpcId"),
            updatable={"mapPublicIpOnLaunch": keep(subnet_public_ip)},
            computed=("arn", "availabilityZone", "availabilityZoneId", "ownerId", "tagsAll"),
            tags="ec2", defaults={"mapPublicIpOnLaunch": False},
        ),
        Spec(
            SG, "ec2", sg_create, sg_read, sg_delete,
            inputs=names("name namePrefix description vpcId tags revokeRulesOnDelete"),
            force_new=names("name namePrefix description vpcId"),  # vpc_security_group.go
            updatable={"revokeRulesOnDelete": state_only},
            computed=("arn", "ownerId", "tagsAll"), tags="ec2", autoname=255,
            defaults={"description": "Managed by Pulumi"},
        ),
        rule_spec("Ingress"),
        rule_spec("Egress"),
        Spec(
            LB, "elbv2", lb_create, lb_read, lb_delete,
            inputs=names(f"{LB_INPUTS} enforceSecurityGroupInboundRulesOnPrivateLinkTraffic tags"),
            # load_balancer.go: schema ForceNew, plus customizeDiffLoadBalancerNLB (replace_if)
            force_new=names("customerOwnedIpv4Pool internal loadBalancerType name namePrefix"),
            updatable={
                "subnets": lb_subnets,
                "securityGroups": keep(lb_set_groups),
                "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic": keep(lb_set_groups),
                "enableCrossZoneLoadBalancing": keep(lb_cross_zone),
            },
            computed=("arn", "arnSuffix", "dnsName", "zoneId", "vpcId", "tagsAll"), tags="elbv2", autoname=32,
            defaults={"loadBalancerType": "application"}, replace_if=lb_replace_if,
        ),
        Spec(
            TG, "elbv2", tg_create, tg_read, tg_delete,
            inputs=names(f"{TG_INPUTS} deregistrationDelay healthCheck tags"),
            # target_group.go
            force_new=names("ipAddressType name namePrefix port protocol protocolVersion targetType vpcId"),
            updatable={
                "healthCheck": tg_modify_health,
                "deregistrationDelay": keep(tg_attributes),
                "preserveClientIp": keep(tg_attributes),
            },
            computed=("arn", "arnSuffix", "loadBalancerArns", "tagsAll"), tags="elbv2", autoname=32,
            defaults={"targetType": "instance", "deregistrationDelay": 300},
        ),
        Spec(
            LISTENER, "elbv2", listener_create, listener_read, listener_delete,
            inputs=names("loadBalancerArn port protocol defaultActions tags"),
            force_new=names("loadBalancerArn"),  # listener.go
            updatable=dict.fromkeys(("port", "protocol", "defaultActions"), listener_modify),
            computed=("arn", "tagsAll"), tags="elbv2",
        ),
        Spec(
            ES, "ec2", es_create, es_read, es_delete,
            inputs=names(f"{ES_MODIFY} allowedPrincipals tags"),
            force_new=frozenset(),  # vpc_endpoint_service.go: no ForceNew at all
            updatable={"allowedPrincipals": es_principals, **dict.fromkeys(ES_MODIFY.split(), es_modify)},
            computed=("arn", "serviceName", "serviceType", "state", "availabilityZones", "baseEndpointDnsNames",
                      "managesVpcEndpoints", "tagsAll"),
            tags="ec2",
        ),
        Spec(
            EP, "ec2", ep_create, ep_read, ep_delete,
            inputs=names(f"{EP_INPUTS} tags"),
            # vpc_endpoint.go (also dnsOptions.privateDnsPreference/privateDnsSpecifiedDomains: not served)
            force_new=names("serviceName serviceRegion vpcEndpointType vpcId resourceConfigurationArn "
                            "serviceNetworkArn"),
            updatable=dict.fromkeys(("subnetIds", "securityGroupIds", "privateDnsEnabled"), ep_modify),
            computed=("arn", "dnsEntries", "networkInterfaceIds", "ownerId", "state", "requesterManaged", "tagsAll"),
            tags="ec2", defaults={"vpcEndpointType": "Gateway"},
        ),
        Spec(
            ZONE, "route53", zone_create, zone_read, zone_delete,
            inputs=names("name comment vpcs forceDestroy tags"),
            force_new=names("name delegationSetId"),  # knowledge: route53/zone.go
            updatable={"comment": zone_comment, "forceDestroy": state_only},
            computed=("zoneId", "arn", "nameServers", "primaryNameServer", "tagsAll"), tags="route53",
            defaults={"comment": "Managed by Pulumi", "forceDestroy": False},
        ),
        Spec(
            RECORD, "route53", record_create, record_read, record_delete,
            inputs=names("zoneId name type aliases records ttl allowOverwrite"),
            force_new=names("name zoneId"),  # knowledge: route53/record.go (type changes in place)
            updatable={**dict.fromkeys(("type", "aliases", "records", "ttl"), record_update),
                       "allowOverwrite": state_only},
            computed=("fqdn",),
        ),
    )
}
# fmt: on
