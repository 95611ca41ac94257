"""The e2e's AWS provider (tools/aws) against moto in-process: its servicer methods driven directly with
pulumi-aws style inputs (no Pulumi CLI), and what moto then holds read back with boto3."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] (requirements-dev.txt) is not installed: the AWS emulator of these tests"
)
from google.protobuf import json_format, struct_pb2  # noqa: E402
from pulumi.runtime.proto import provider_pb2  # noqa: E402

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "aws"
sys.path.insert(0, str(TOOLS))
_spec = importlib.util.spec_from_file_location("meshbridge_aws_provider", TOOLS / "provider.py")
assert _spec and _spec.loader
provider = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(provider)

REGION = "us-east-1"
BASE_ACCOUNT = "123456789012"  # moto's account for the base credentials
CONSUMER_ACCOUNT = "111111111111"
CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER_ACCOUNT}:role/x"
SG = "aws:ec2/securityGroup:SecurityGroup"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ES = "aws:ec2/vpcEndpointService:VpcEndpointService"
EP = "aws:ec2/vpcEndpoint:VpcEndpoint"
ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"


class AbortedError(Exception):
    pass


class Context:
    """The bits of grpc.ServicerContext the servicer uses."""

    def abort(self, code: Any, details: str) -> None:
        raise AbortedError(details)


def struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def plain(s: struct_pb2.Struct) -> dict[str, Any]:
    return provider.whole(json_format.MessageToDict(s))


def urn(token: str, name: str) -> str:
    return f"urn:pulumi:e2e::meshbridge::meshbridge:network:PrivateGateway${token}::{name}"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp = pytest.MonkeyPatch()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        # the accounts where a consumer's endpoint looks up the producer's service (tools/aws/resources.py)
        "MESHBRIDGE_AWS_ACCOUNTS": f"{BASE_ACCOUNT},{CONSUMER_ACCOUNT}",
    }.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    mp.undo()


def configure(endpoint: str, **config: Any) -> Any:
    p = provider.Provider(endpoint)
    args = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {"region": REGION, **config}.items()}
    p.Configure(provider_pb2.ConfigureRequest(args=struct(args), acceptSecrets=True), Context())
    return p


@pytest.fixture(scope="module")
def producer(endpoint: str) -> Any:
    return configure(
        endpoint, allowedAccountIds=[BASE_ACCOUNT], defaultTags={"tags": {"meshbridge:cluster": "cluster-a"}}
    )


@pytest.fixture(scope="module")
def consumer(endpoint: str) -> Any:
    roles = [{"roleArn": CONSUMER_ROLE, "sessionName": "meshbridge-cluster-b"}]
    return configure(endpoint, allowedAccountIds=[CONSUMER_ACCOUNT], assumeRoles=roles)


def network(ec2: Any, cidr: str) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.rsplit(".", 2)[0]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"))
    ]
    return vpc, subnets


def check(p: Any, token: str, name: str, inputs: dict[str, Any], olds: dict[str, Any] | None = None) -> Any:
    req = provider_pb2.CheckRequest(
        urn=urn(token, name), olds=struct(olds or {}), news=struct(inputs), randomSeed=b"\x01" * 8
    )
    return p.Check(req, Context())


def create(p: Any, token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    checked = check(p, token, name, inputs)
    assert not checked.failures, checked.failures
    out = p.Create(provider_pb2.CreateRequest(urn=urn(token, name), properties=checked.inputs), Context())
    return out.id, plain(out.properties), plain(checked.inputs)


def diff(p: Any, token: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    req = provider_pb2.DiffRequest(
        urn=urn(token, "x"), id="x", olds=struct(olds), old_inputs=struct(olds), news=struct(news)
    )
    return p.Diff(req, Context())


@pytest.fixture(scope="module")
def gateway(endpoint: str, producer: Any, consumer: Any) -> dict[str, Any]:
    """The PrivateGateway and GatewayEndpoint of components/network.py, through the provider."""
    ec2 = producer.ctx.client("ec2")
    vpc, subnets = network(ec2, "10.0.0.0/16")
    sg_id, sg, _ = create(
        producer, SG, "gw-nlb-sg", {"description": "meshbridge: internal NLB", "vpcId": vpc, "tags": {"Name": "gw-nlb"}}
    )
    rule = {
        "securityGroupId": sg_id,
        "ipProtocol": "tcp",
        "fromPort": 15443,
        "toPort": 15443,
        "cidrIpv4": "10.0.0.0/16",
    }
    rule_id, rule_out, rule_in = create(
        producer, EGRESS, "gw-nlb-out-15443", {**rule, "description": "forwarded traffic"}
    )
    lb_inputs = {
        "loadBalancerType": "network",
        "internal": True,
        "subnets": subnets,
        "securityGroups": [sg_id],
        "enableCrossZoneLoadBalancing": True,
        "ipAddressType": "ipv4",
        "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off",
        "tags": {"Name": "gw"},
    }
    lb_arn, lb, lb_in = create(producer, LB, "gw-nlb", lb_inputs)
    health = {"enabled": True, "protocol": "HTTP", "port": "15021", "path": "/healthz/ready", "matcher": "200"}
    health.update(interval=10, healthyThreshold=2, unhealthyThreshold=2)
    tg_inputs = {"port": 15443, "protocol": "TCP", "targetType": "ip", "vpcId": vpc, "ipAddressType": "ipv4"}
    tg_inputs.update(preserveClientIp="false", deregistrationDelay=30, healthCheck=health, tags={"Name": "gw"})
    tg_arn, tg, tg_in = create(producer, TG, "gw-tg", tg_inputs)
    action = [{"type": "forward", "targetGroupArn": tg_arn}]
    listener_arn, _, _ = create(
        producer,
        LISTENER,
        "gw-listener",
        {"loadBalancerArn": lb_arn, "port": 15443, "protocol": "TCP", "defaultActions": action},
    )
    principals = [f"arn:aws:iam::{CONSUMER_ACCOUNT}:root"]
    es_id, es, es_in = create(
        producer,
        ES,
        "gw-endpoint-service",
        {
            "acceptanceRequired": False,
            "networkLoadBalancerArns": [lb_arn],
            "allowedPrincipals": principals,
            "supportedIpAddressTypes": ["ipv4"],
        },
    )
    cvpc, csubnets = network(consumer.ctx.client("ec2"), "10.1.0.0/16")
    csg_id, _, _ = create(consumer, SG, "gw-endpoint-sg", {"description": "meshbridge: endpoint", "vpcId": cvpc})
    ep_inputs = {
        "vpcId": cvpc,
        "vpcEndpointType": "Interface",
        "serviceName": es["serviceName"],
        "subnetIds": csubnets,
        "securityGroupIds": [csg_id],
        "privateDnsEnabled": False,
        "ipAddressType": "ipv4",
    }
    ep_id, ep, _ = create(consumer, EP, "gw-endpoint", ep_inputs)
    return locals()


def test_aws_holds_what_the_program_asked(gateway: dict[str, Any], producer: Any) -> None:
    g = gateway
    ec2, elb = producer.ctx.client("ec2"), producer.ctx.client("elbv2")
    group = ec2.describe_security_groups(GroupIds=[g["sg_id"]])["SecurityGroups"][0]
    # terraform's create revokes AWS's default allow-all egress: only the rule resource remains
    assert [
        (p["IpProtocol"], p.get("FromPort"), [r["CidrIp"] for r in p["IpRanges"]]) for p in group["IpPermissionsEgress"]
    ] == [("tcp", 15443, ["10.0.0.0/16"])]
    assert {t["Key"]: t["Value"] for t in group["Tags"]} == {"Name": "gw-nlb", "meshbridge:cluster": "cluster-a"}
    assert g["sg"]["tagsAll"] == {"Name": "gw-nlb", "meshbridge:cluster": "cluster-a"}
    assert g["sg"]["name"].startswith("gw-nlb-sg-") and g["sg"]["arn"].endswith(
        f":{BASE_ACCOUNT}:security-group/{g['sg_id']}"
    )
    assert g["rule_out"]["securityGroupRuleId"] == g["rule_id"]
    lb = elb.describe_load_balancers(LoadBalancerArns=[g["lb_arn"]])["LoadBalancers"][0]
    assert (lb["Scheme"], lb["Type"], lb["SecurityGroups"]) == ("internal", "network", [g["sg_id"]])
    assert g["lb"]["dnsName"] == lb["DNSName"] and g["lb"]["zoneId"] == lb["CanonicalHostedZoneId"]
    # AWS: net/NAME/ID for a network load balancer; moto 5.2.1 builds app/NAME/ID for every type
    assert g["lb"]["arnSuffix"] == g["lb_arn"].split(":loadbalancer/")[1] and "/gw-nlb-0101010/" in g["lb"]["arnSuffix"]
    listener = elb.describe_listeners(ListenerArns=[g["listener_arn"]])["Listeners"][0]
    assert listener["DefaultActions"][0]["Type"] == "forward"
    assert listener["DefaultActions"][0]["TargetGroupArn"] == g["tg_arn"]
    tg = elb.describe_target_groups(TargetGroupArns=[g["tg_arn"]])["TargetGroups"][0]
    assert (tg["TargetType"], tg["Port"], tg["HealthCheckPort"], tg["HealthCheckPath"]) == (
        "ip",
        15443,
        "15021",
        "/healthz/ready",
    )
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=g["es_id"])["AllowedPrincipals"]
    assert [p["Principal"] for p in perms] == g["principals"] == g["es"]["allowedPrincipals"]
    assert g["ep"]["dnsEntries"] and g["ep"]["dnsEntries"][0]["dnsName"]
    assert len(g["ep"]["networkInterfaceIds"]) == 2 and g["ep"]["arn"].endswith(
        f":{CONSUMER_ACCOUNT}:vpc-endpoint/{g['ep_id']}"
    )


def test_assume_role_lands_in_the_roles_account(gateway: dict[str, Any], consumer: Any, producer: Any) -> None:
    assert consumer.ctx.account_id == CONSUMER_ACCOUNT
    assert [v["VpcId"] for v in consumer.ctx.client("ec2").describe_vpcs(VpcIds=[gateway["cvpc"]])["Vpcs"]] == [
        gateway["cvpc"]
    ]
    base = producer.ctx.client("ec2").describe_vpcs()["Vpcs"]
    assert gateway["cvpc"] not in {v["VpcId"] for v in base}
    eps = consumer.ctx.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[gateway["ep_id"]])["VpcEndpoints"]
    assert eps[0]["ServiceName"] == gateway["es"]["serviceName"]


def test_allowed_account_ids_mismatch_fails_configure(endpoint: str) -> None:
    with pytest.raises(AbortedError, match="AWS account ID not allowed: 123456789012"):
        configure(endpoint, allowedAccountIds=[CONSUMER_ACCOUNT])


def test_missing_endpoint_service_fails_loudly(gateway: dict[str, Any], consumer: Any) -> None:
    inputs = {**gateway["ep_inputs"], "serviceName": f"com.amazonaws.vpce.{REGION}.vpce-svc-0000000000000000"}
    with pytest.raises(AbortedError, match="InvalidServiceName"):
        create(consumer, EP, "gw-endpoint-2", inputs)
    # and a service that does not admit the caller (the producer's own account is not a principal)
    other = configure(consumer.endpoint, allowedAccountIds=[BASE_ACCOUNT])
    vpc, subnets = network(other.ctx.client("ec2"), "10.2.0.0/16")
    with pytest.raises(AbortedError, match="does not admit"):
        create(
            other,
            EP,
            "gw-endpoint-3",
            {**gateway["ep_inputs"], "vpcId": vpc, "subnetIds": subnets, "securityGroupIds": []},
        )


def test_missing_security_group_fails_loudly(gateway: dict[str, Any], consumer: Any) -> None:
    inputs = {**gateway["ep_inputs"], "securityGroupIds": ["sg-0123456789abcdef0"]}
    with pytest.raises(AbortedError, match="securityGroupIds"):
        create(consumer, EP, "gw-endpoint-4", inputs)


def test_diff_reports_force_new_and_in_place(gateway: dict[str, Any], producer: Any) -> None:
    lb_in, tg_in = gateway["lb_in"], gateway["tg_in"]
    fewer = diff(producer, LB, lb_in, {**lb_in, "subnets": lb_in["subnets"][:1]})
    assert list(fewer.replaces) == ["subnets"]
    assert fewer.detailedDiff["subnets"].kind == provider_pb2.PropertyDiff.UPDATE_REPLACE
    assert list(diff(producer, LB, lb_in, {**lb_in, "internal": False}).replaces) == ["internal"]
    assert list(diff(producer, LB, lb_in, {**lb_in, "subnets": list(reversed(lb_in["subnets"]))}).diffs) == []
    assert list(diff(producer, TG, tg_in, {**tg_in, "port": 15444}).replaces) == ["port"]
    health = diff(producer, TG, tg_in, {**tg_in, "healthCheck": {**tg_in["healthCheck"], "interval": 30}})
    assert (list(health.diffs), list(health.replaces)) == (["healthCheck"], [])
    same = diff(producer, TG, tg_in, tg_in)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    unknown = diff(producer, TG, tg_in, {**tg_in, "vpcId": provider.UNKNOWN})
    assert list(unknown.replaces) == ["vpcId"]


def update(
    p: Any, token: str, rid: str, olds: dict[str, Any], old_in: dict[str, Any], news: dict[str, Any]
) -> dict[str, Any]:
    req = provider_pb2.UpdateRequest(
        urn=urn(token, "x"), id=rid, olds=struct(olds), old_inputs=struct(old_in), news=struct(news)
    )
    return plain(p.Update(req, Context()).properties)


def test_update_in_place(gateway: dict[str, Any], producer: Any) -> None:
    g = gateway
    elb, ec2 = producer.ctx.client("elbv2"), producer.ctx.client("ec2")
    tg_new = {**g["tg_in"], "healthCheck": {**g["tg_in"]["healthCheck"], "interval": 30}, "tags": {"Name": "gw2"}}
    out = update(producer, TG, g["tg_arn"], g["tg"], g["tg_in"], tg_new)
    tg = elb.describe_target_groups(TargetGroupArns=[g["tg_arn"]])["TargetGroups"][0]
    assert tg["HealthCheckIntervalSeconds"] == 30 and out["healthCheck"]["interval"] == 30
    tags = elb.describe_tags(ResourceArns=[g["tg_arn"]])["TagDescriptions"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Name": "gw2", "meshbridge:cluster": "cluster-a"}
    principals = [*g["principals"], f"arn:aws:iam::{CONSUMER_ACCOUNT}:role/x"]
    update(producer, ES, g["es_id"], g["es"], g["es_in"], {**g["es_in"], "allowedPrincipals": principals})
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=g["es_id"])["AllowedPrincipals"]
    assert sorted(p["Principal"] for p in perms) == sorted(principals)
    update(producer, EGRESS, g["rule_id"], g["rule_out"], g["rule_in"], {**g["rule_in"], "description": "renamed"})
    rules = ec2.describe_security_group_rules(SecurityGroupRuleIds=[g["rule_id"]])["SecurityGroupRules"]
    assert rules[0]["Description"] == "renamed"
    with pytest.raises(AbortedError, match="'port'"):
        update(producer, TG, g["tg_arn"], g["tg"], g["tg_in"], {**g["tg_in"], "port": 1})


def test_preview_returns_unknowns_without_aws(endpoint: str) -> None:
    unconfigured = provider.Provider(endpoint)  # no credentials at all: any AWS call would fail
    inputs = {"loadBalancerType": "network", "internal": True, "subnets": [provider.UNKNOWN], "name": "gw-nlb-abc"}
    req = provider_pb2.CreateRequest(urn=urn(LB, "gw-nlb"), properties=struct(inputs), preview=True)
    out = plain(unconfigured.Create(req, Context()).properties)
    assert out["dnsName"] == out["arn"] == out["zoneId"] == provider.UNKNOWN
    assert out["internal"] is True and out["subnets"] == [provider.UNKNOWN]


def test_secrets_stay_secret(gateway: dict[str, Any], producer: Any) -> None:
    secret = {provider.SIG_KEY: provider.SECRET_SIG, "value": "meshbridge: a secret description"}
    inputs = {"description": secret, "vpcId": gateway["vpc"]}
    _, out, _ = create(producer, SG, "gw-secret-sg", inputs)
    assert out["description"] == secret and out["vpcId"] == gateway["vpc"]


def test_unserved_type_and_property_fail(producer: Any) -> None:
    with pytest.raises(AbortedError, match="not served"):
        check(producer, "aws:s3/bucket:Bucket", "b", {})
    failures = check(producer, SG, "s", {"vpcId": "vpc-1", "ingress": []}).failures
    assert [f.property for f in failures] == ["ingress"]
    too_long = check(producer, LB, "a-load-balancer-name-far-too-long", {"loadBalancerType": "network"}).failures
    assert [f.property for f in too_long] == ["name"]


def test_private_zone_and_alias_record(gateway: dict[str, Any], consumer: Any) -> None:
    g = gateway
    zone_in = {"name": "gw.mesh.internal", "vpcs": [{"vpcId": g["cvpc"], "vpcRegion": REGION}], "forceDestroy": True}
    zone_id, zone, _ = create(consumer, ZONE, "gw-zone", zone_in)
    entry = g["ep"]["dnsEntries"][0]
    alias = {"name": entry["dnsName"], "zoneId": entry["hostedZoneId"], "evaluateTargetHealth": False}
    rec_id, _, _ = create(
        consumer, RECORD, "gw-record", {"zoneId": zone_id, "name": "gw.mesh.internal", "type": "A", "aliases": [alias]}
    )
    assert rec_id == f"{zone_id}_gw.mesh.internal_A" and zone["zoneId"] == zone_id
    sets = consumer.ctx.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    a = [s for s in sets if s["Type"] == "A"]
    assert a and a[0]["AliasTarget"]["DNSName"].rstrip(".") == entry["dnsName"].rstrip(".")
    consumer.Delete(
        provider_pb2.DeleteRequest(urn=urn(ZONE, "gw-zone"), id=zone_id, properties=struct(zone)), Context()
    )


def delete(p: Any, token: str, rid: str, state: dict[str, Any]) -> None:
    p.Delete(provider_pb2.DeleteRequest(urn=urn(token, "x"), id=rid, properties=struct(state)), Context())


def read(p: Any, token: str, rid: str, state: dict[str, Any]) -> Any:
    return p.Read(provider_pb2.ReadRequest(urn=urn(token, "x"), id=rid, properties=struct(state)), Context())


def test_infra_vpc_and_subnets(consumer: Any) -> None:
    """The infra stack's network, in the assumed role's account: what the mesh program then uses."""
    ec2 = consumer.ctx.client("ec2")
    vpc_id, vpc, vpc_in = create(
        consumer, VPC, "infra-vpc", {"cidrBlock": "10.20.0.0/16", "enableDnsHostnames": True, "tags": {"Name": "a"}}
    )
    assert vpc_in["enableDnsSupport"] is True  # pulumi-aws's default
    described = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert (described["CidrBlock"], described["OwnerId"]) == ("10.20.0.0/16", CONSUMER_ACCOUNT)
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {"Name": "a"} == vpc["tagsAll"]
    attr = ec2.describe_vpc_attribute
    assert attr(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"] is True
    assert attr(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    assert vpc["arn"] == f"arn:aws:ec2:{REGION}:{CONSUMER_ACCOUNT}:vpc/{vpc_id}"
    assert (vpc["ownerId"], vpc["enableDnsSupport"], vpc["enableDnsHostnames"]) == (CONSUMER_ACCOUNT, True, True)
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert vpc["defaultSecurityGroupId"] == default_sg[0]["GroupId"]
    assert vpc["mainRouteTableId"].startswith("rtb-")

    subnets = {}
    for i, az in ((1, "a"), (2, "b")):
        inputs = {"vpcId": vpc_id, "cidrBlock": f"10.20.{i}.0/24", "availabilityZone": f"{REGION}{az}"}
        subnets[az] = create(consumer, SUBNET, f"infra-subnet-{az}", {**inputs, "tags": {"Name": az}})
    found = ec2.describe_subnets(SubnetIds=[s[0] for s in subnets.values()])["Subnets"]
    assert sorted((s["CidrBlock"], s["AvailabilityZone"], s["VpcId"], s["MapPublicIpOnLaunch"]) for s in found) == [
        ("10.20.1.0/24", f"{REGION}a", vpc_id, False),
        ("10.20.2.0/24", f"{REGION}b", vpc_id, False),
    ]
    sn_id, sn, sn_in = subnets["a"]
    assert sn["availabilityZoneId"] == next(s["AvailabilityZoneId"] for s in found if s["SubnetId"] == sn_id)
    assert (sn["ownerId"], sn["arn"]) == (CONSUMER_ACCOUNT, f"arn:aws:ec2:{REGION}:{CONSUMER_ACCOUNT}:subnet/{sn_id}")

    # ForceNew (terraform-provider-aws vpc_.go, vpc_subnet.go) and what changes in place
    moved = diff(consumer, VPC, vpc_in, {**vpc_in, "cidrBlock": "10.21.0.0/16"})
    assert (list(moved.replaces), moved.detailedDiff["cidrBlock"].kind) == (
        ["cidrBlock"],
        provider_pb2.PropertyDiff.UPDATE_REPLACE,
    )
    dns = diff(consumer, VPC, vpc_in, {**vpc_in, "enableDnsHostnames": False, "tags": {"Name": "b"}})
    assert (list(dns.diffs), list(dns.replaces)) == (["enableDnsHostnames", "tags"], [])
    assert list(diff(consumer, SUBNET, sn_in, {**sn_in, "availabilityZone": f"{REGION}c"}).replaces) == [
        "availabilityZone"
    ]
    assert list(diff(consumer, SUBNET, sn_in, {**sn_in, "mapPublicIpOnLaunch": True}).replaces) == []

    vpc = update(consumer, VPC, vpc_id, vpc, vpc_in, {**vpc_in, "enableDnsHostnames": False, "tags": {"Name": "b"}})
    assert attr(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is False
    assert vpc["enableDnsHostnames"] is False and vpc["tagsAll"] == {"Name": "b"}
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"] == [{"Key": "Name", "Value": "b"}]
    sn = update(consumer, SUBNET, sn_id, sn, sn_in, {**sn_in, "mapPublicIpOnLaunch": True})
    assert ec2.describe_subnets(SubnetIds=[sn_id])["Subnets"][0]["MapPublicIpOnLaunch"] is True
    assert sn["mapPublicIpOnLaunch"] is True
    with pytest.raises(AbortedError, match="changing 'cidrBlock' in place"):
        update(consumer, SUBNET, sn_id, sn, sn_in, {**sn_in, "cidrBlock": "10.20.3.0/24"})

    with pytest.raises(AbortedError, match="DependencyViolation"):
        delete(consumer, VPC, vpc_id, vpc)  # its subnets first, as the engine orders it
    for rid, state, _ in subnets.values():
        delete(consumer, SUBNET, rid, state)
        assert read(consumer, SUBNET, rid, state).id == ""
    delete(consumer, VPC, vpc_id, vpc)
    assert read(consumer, VPC, vpc_id, vpc).id == ""
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
