"""Private connectivity on AWS, on the real program through synth.

Internal NLB per consumed producer, PrivateLink endpoint service and one interface endpoint per
(consumer, producer) pair, security groups without 0.0.0.0/0, resources on the right cluster's
provider, the TargetGroupBinding against its CRD, routed mode and the bad inputs.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest
import yaml

from synth.engine import Registration, SynthResult, placeholder, redact
from tests.conftest import of_type, provider_cluster, require_shared, run_variant, stack_config
from tests.validators import validate_object

NLB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_OUT = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SERVICE = "aws:ec2/vpcEndpointService:VpcEndpointService"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
GATEWAY = "meshbridge:network:PrivateGateway"
GW_ENDPOINT = "meshbridge:network:GatewayEndpoint"
CRD = "aws-load-balancer-controller/v3.5.0/targetgroupbindings.crd.yaml"

INFRA_B = "stack:acme/eks-platform/staging-us-west-2"
A_SUBNETS = ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"]
OPEN = {"0.0.0.0/0", "::/0"}


def inputs(reg: Registration) -> dict[str, Any]:
    return redact(reg.inputs)


def named(result: SynthResult, typ: str) -> dict[str, dict[str, Any]]:
    return {r.name: inputs(r) for r in of_type(result, typ)}


def component_of(result: SynthResult, reg: Registration) -> Optional[Registration]:
    """The network component (PrivateGateway / GatewayEndpoint) a resource belongs to, if any."""
    by_urn = {r.urn: r for r in result.registrations}
    parent = by_urn.get(reg.parent)
    while parent is not None:
        if parent.type in (GATEWAY, GW_ENDPOINT):
            return parent
        parent = by_urn.get(parent.parent)
    return None


def owner_cluster(result: SynthResult, reg: Registration) -> Optional[str]:
    """The cluster whose account/VPC a network resource belongs to: the producer for gateway
    parts, the consumer for endpoint parts (names `<producer>-eastwest`, `<consumer>-to-<producer>`)."""
    comp = component_of(result, reg)
    if comp is None:
        return None
    if comp.type == GATEWAY:
        return comp.name.removesuffix("-eastwest")
    return comp.name.split("-to-")[0]


def region_of_provider(result: SynthResult, reg: Registration) -> Optional[str]:
    by_urn = {r.urn: r for r in result.registrations}
    prov = by_urn.get(reg.provider)
    return None if prov is None else prov.inputs.get("region")


def gateway_addresses(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {name: redact(c)["gatewayAddresses"] for name, c in result.outputs["clusters"].items()}


def rule_cidrs(result: SynthResult) -> Iterator[tuple[str, str]]:
    """(resource name, cidr) of every security group rule, inline or standalone."""
    for reg in of_type(result, SG):
        for rule in (inputs(reg).get("ingress") or []) + (inputs(reg).get("egress") or []):
            for cidr in (rule.get("cidrBlocks") or []) + (rule.get("ipv6CidrBlocks") or []):
                yield reg.name, cidr
    for reg in of_type(result, SG_RULE):
        for cidr in (inputs(reg).get("cidrBlocks") or []) + (inputs(reg).get("ipv6CidrBlocks") or []):
            yield reg.name, cidr
    for reg in of_type(result, SG_IN) + of_type(result, SG_OUT):
        for key in ("cidrIpv4", "cidrIpv6"):
            if inputs(reg).get(key):
                yield reg.name, inputs(reg)[key]


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["connectivity"] = "routed"

    result = run_variant(tmp_path_factory.mktemp("routed"), mutate)
    assert result.ok, result.errors
    return result


# ---------------------------------------------------------------------------- the gateways


def test_one_internal_cross_zone_nlb_per_producer_in_its_subnets(staging: SynthResult) -> None:
    nlbs = named(staging, NLB)
    assert sorted(nlbs) == ["cluster-a-eastwest-nlb", "cluster-b-eastwest-nlb"]
    for nlb in nlbs.values():
        assert nlb["loadBalancerType"] == "network"
        assert nlb["internal"] is True
        assert nlb["enableCrossZoneLoadBalancing"] is True
        assert len(nlb["securityGroups"]) == 1
    assert nlbs["cluster-a-eastwest-nlb"]["subnets"] == A_SUBNETS
    # cluster-b's subnets come from its infraStack (privateSubnetIds)
    assert nlbs["cluster-b-eastwest-nlb"]["subnets"] == [placeholder(INFRA_B, "privateSubnetIds")]
    # privatelink: PrivateLink traffic is admitted by the endpoint service, not the NLB's SG
    assert {n["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] for n in nlbs.values()} == {"off"}


def test_target_group_health_check_and_listener(staging: SynthResult) -> None:
    tgs = named(staging, TG)
    assert sorted(tgs) == ["cluster-a-eastwest-tg", "cluster-b-eastwest-tg"]
    for tg in tgs.values():
        assert (tg["port"], tg["protocol"], tg["targetType"]) == (15443, "TCP", "ip")
        hc = tg["healthCheck"]
        assert (hc["protocol"], str(hc["port"]), hc["path"]) == ("HTTP", "15021", "/healthz/ready")
        assert hc.get("enabled", True) is True
    assert tgs["cluster-a-eastwest-tg"]["vpcId"] == "vpc-0a1b2c3d4e5f60001"
    assert tgs["cluster-b-eastwest-tg"]["vpcId"] == placeholder(INFRA_B, "vpcId")
    listeners = named(staging, LISTENER)
    assert sorted(listeners) == ["cluster-a-eastwest-listener", "cluster-b-eastwest-listener"]
    for producer in ("cluster-a", "cluster-b"):
        lst = listeners[f"{producer}-eastwest-listener"]
        assert (lst["port"], lst["protocol"]) == (15443, "TCP")
        assert lst["loadBalancerArn"] == placeholder(f"{producer}-eastwest-nlb", "arn")
        assert lst["defaultActions"] == [
            {"type": "forward", "targetGroupArn": placeholder(f"{producer}-eastwest-tg", "arn")}
        ]


def test_endpoint_service_admits_the_consumer_account_and_region_only(staging: SynthResult) -> None:
    services = named(staging, SERVICE)
    assert sorted(services) == ["cluster-a-eastwest-endpoint-service", "cluster-b-eastwest-endpoint-service"]
    # cluster-a (us-east-1, 111111111111) consumes cluster-b's backend-api, and the other way round
    expected = {
        "cluster-a": ("222222222222", "us-west-2", "us-east-1"),
        "cluster-b": ("111111111111", "us-east-1", "us-west-2"),
    }
    for producer, (consumer_account, consumer_region, own_region) in expected.items():
        svc = services[f"{producer}-eastwest-endpoint-service"]
        assert svc["acceptanceRequired"] is False
        # the consumer's deployer role (mesh.privateLink.allowedPrincipals roles, the default)
        assert svc["allowedPrincipals"] == [f"arn:aws:iam::{consumer_account}:role/mesh-deployer"]
        assert consumer_region in svc["supportedRegions"]
        assert set(svc["supportedRegions"]) <= {consumer_region, own_region}
        assert svc["networkLoadBalancerArns"] == [placeholder(f"{producer}-eastwest-nlb", "arn")]
    for svc in services.values():
        assert "*" not in svc["allowedPrincipals"]


def test_one_endpoint_per_consuming_pair_in_the_consumer_vpc(staging: SynthResult) -> None:
    endpoints = named(staging, ENDPOINT)
    assert sorted(endpoints) == ["cluster-a-to-cluster-b-endpoint", "cluster-b-to-cluster-a-endpoint"]
    a_to_b = endpoints["cluster-a-to-cluster-b-endpoint"]
    assert a_to_b["vpcEndpointType"] == "Interface"
    assert a_to_b["vpcId"] == "vpc-0a1b2c3d4e5f60001"
    assert a_to_b["subnetIds"] == A_SUBNETS
    assert a_to_b["serviceRegion"] == "us-west-2"
    assert a_to_b["serviceName"] == placeholder("cluster-b-eastwest-endpoint-service", "serviceName")
    assert a_to_b["securityGroupIds"] == [placeholder("cluster-a-to-cluster-b-endpoint-sg", "id")]
    b_to_a = endpoints["cluster-b-to-cluster-a-endpoint"]
    assert b_to_a["vpcId"] == placeholder(INFRA_B, "vpcId")
    assert b_to_a["subnetIds"] == [placeholder(INFRA_B, "privateSubnetIds")]
    assert b_to_a["serviceRegion"] == "us-east-1"
    assert b_to_a["serviceName"] == placeholder("cluster-a-eastwest-endpoint-service", "serviceName")


def test_endpoint_security_group_admits_15443_from_the_consumer_vpc_only(staging: SynthResult) -> None:
    rules = {r.name: inputs(r) for r in of_type(staging, SG_IN) if r.name.endswith("-endpoint-in-15443")}
    assert sorted(rules) == ["cluster-a-to-cluster-b-endpoint-in-15443", "cluster-b-to-cluster-a-endpoint-in-15443"]
    a = rules["cluster-a-to-cluster-b-endpoint-in-15443"]
    assert (a["ipProtocol"], a["fromPort"], a["toPort"], a["cidrIpv4"]) == ("tcp", 15443, 15443, "10.10.0.0/16")
    assert a["securityGroupId"] == placeholder("cluster-a-to-cluster-b-endpoint-sg", "id")
    assert rules["cluster-b-to-cluster-a-endpoint-in-15443"]["cidrIpv4"] == placeholder(INFRA_B, "vpcCidr")
    # nothing else opens an endpoint security group
    endpoint_sgs = {placeholder(r.name, "id") for r in of_type(staging, SG) if r.name.endswith("-endpoint-sg")}
    others = [
        r.name
        for r in of_type(staging, SG_IN) + of_type(staging, SG_OUT)
        if inputs(r)["securityGroupId"] in endpoint_sgs
    ]
    assert sorted(others) == sorted(rules)


def test_nlb_security_group_in_privatelink_mode(staging: SynthResult) -> None:
    # no inbound rule (PrivateLink traffic bypasses it by decision); outbound to the own VPC only
    nlb_sgs = {placeholder(f"{p}-eastwest-nlb-sg", "id"): p for p in ("cluster-a", "cluster-b")}
    assert [r.name for r in of_type(staging, SG_IN) if inputs(r)["securityGroupId"] in nlb_sgs] == []
    out = {r.name: inputs(r) for r in of_type(staging, SG_OUT) if inputs(r)["securityGroupId"] in nlb_sgs}
    assert {(o["fromPort"], o["toPort"]) for o in out.values()} == {(15443, 15443), (15021, 15021)}
    assert {o["cidrIpv4"] for o in out.values() if "cluster-a" in o["securityGroupId"]} == {"10.10.0.0/16"}


@pytest.mark.parametrize("which", ["staging", "production", "routed"])
def test_no_security_group_rule_is_open_to_the_world(
    which: str, staging: SynthResult, production: SynthResult, routed: SynthResult
) -> None:
    result = {"staging": staging, "production": production, "routed": routed}[which]
    cidrs = list(rule_cidrs(result))
    assert cidrs, "no security group rule found: the check would be vacuous"
    assert [(name, cidr) for name, cidr in cidrs if cidr in OPEN] == []
    # literal CIDRs are private ranges
    for name, cidr in cidrs:
        if not cidr.startswith("${"):
            assert ipaddress.ip_network(cidr).is_private, (name, cidr)
    for reg in of_type(result, NLB):
        assert inputs(reg)["internal"] is True


def test_every_aws_resource_is_on_its_clusters_provider(staging: SynthResult) -> None:
    regions = {"cluster-a": "us-east-1", "cluster-b": "us-west-2"}
    checked = 0
    for reg in staging.registrations:
        if not reg.custom or not reg.type.startswith("aws:"):
            continue
        owner = owner_cluster(staging, reg)
        assert owner is not None, f"{reg.name} is not under a network component"
        assert provider_cluster(staging, reg) == owner, reg.name
        assert region_of_provider(staging, reg) == regions[owner], reg.name
        checked += 1
    assert checked >= 20
    # the components sit under their cluster: producer for gateways, consumer for endpoints
    by_urn = {r.urn: r for r in staging.registrations}
    for comp in of_type(staging, GATEWAY) + of_type(staging, GW_ENDPOINT):
        parent = by_urn[comp.parent]
        assert parent.type == "meshbridge:cluster:MeshCluster"
        expected = comp.name.removesuffix("-eastwest") if comp.type == GATEWAY else comp.name.split("-to-")[0]
        assert parent.name == expected


# ---------------------------------------------------------------------- addresses and outputs


def test_privatelink_gateway_address_is_the_endpoint_dns_name(staging: SynthResult) -> None:
    assert gateway_addresses(staging) == {
        "cluster-a": {"cluster-b": placeholder("cluster-a-to-cluster-b-endpoint", "dnsEntries[0].dnsName")},
        "cluster-b": {"cluster-a": placeholder("cluster-b-to-cluster-a-endpoint", "dnsEntries[0].dnsName")},
    }
    nlb_names = {placeholder(f"{p}-eastwest-nlb", "dnsName") for p in ("cluster-a", "cluster-b")}
    for addresses in gateway_addresses(staging).values():
        assert not set(addresses.values()) & nlb_names


def test_gateway_outputs_per_producer(staging: SynthResult) -> None:
    for producer in ("cluster-a", "cluster-b"):
        gw = redact(staging.outputs["clusters"][producer]["gateway"])
        assert gw["nlbDnsName"] == placeholder(f"{producer}-eastwest-nlb", "dnsName")
        assert gw["nlbArn"] == placeholder(f"{producer}-eastwest-nlb", "arn")
        assert gw["endpointServiceName"] == placeholder(f"{producer}-eastwest-endpoint-service", "serviceName")


def test_routed_mode_has_no_endpoints_and_uses_nlb_names(routed: SynthResult) -> None:
    assert of_type(routed, SERVICE) == []
    assert of_type(routed, ENDPOINT) == []
    assert of_type(routed, GW_ENDPOINT) == []
    assert len(of_type(routed, NLB)) == 2
    assert gateway_addresses(routed) == {
        "cluster-a": {"cluster-b": placeholder("cluster-b-eastwest-nlb", "dnsName")},
        "cluster-b": {"cluster-a": placeholder("cluster-a-eastwest-nlb", "dnsName")},
    }
    # None-valued keys are dropped from Pulumi outputs: absent means "no endpoint service"
    assert redact(routed.outputs["clusters"]["cluster-a"]["gateway"]).get("endpointServiceName") is None
    # the NLB security group admits 15443 from the consumers' VPC CIDRs only
    ingress = {r.name: inputs(r) for r in of_type(routed, SG_IN)}
    assert ingress == {
        "cluster-a-eastwest-nlb-in-15443-cluster-b": ingress["cluster-a-eastwest-nlb-in-15443-cluster-b"],
        "cluster-b-eastwest-nlb-in-15443-cluster-a": ingress["cluster-b-eastwest-nlb-in-15443-cluster-a"],
    }
    assert ingress["cluster-b-eastwest-nlb-in-15443-cluster-a"]["cidrIpv4"] == "10.10.0.0/16"
    assert ingress["cluster-a-eastwest-nlb-in-15443-cluster-b"]["cidrIpv4"] == placeholder(INFRA_B, "vpcCidr")
    assert {(i["fromPort"], i["toPort"]) for i in ingress.values()} == {(15443, 15443)}


def test_gateway_dns_gives_a_private_zone_per_pair(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["gatewayDns"] = "gateways.mesh-staging.internal"

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    zones = named(result, ZONE)
    assert sorted(zones) == ["cluster-a-to-cluster-b-zone", "cluster-b-to-cluster-a-zone"]
    zone = zones["cluster-a-to-cluster-b-zone"]
    assert zone["name"] == "cluster-b.gateways.mesh-staging.internal"
    assert zone["vpcs"] == [{"vpcId": "vpc-0a1b2c3d4e5f60001", "vpcRegion": "us-east-1"}]
    record = named(result, RECORD)["cluster-a-to-cluster-b-record"]
    assert record["name"] == "cluster-b.gateways.mesh-staging.internal"
    assert record["zoneId"] == placeholder("cluster-a-to-cluster-b-zone", "zoneId")
    assert record["aliases"][0]["name"] == placeholder("cluster-a-to-cluster-b-endpoint", "dnsEntries[0].dnsName")
    assert gateway_addresses(result) == {
        "cluster-a": {"cluster-b": "cluster-b.gateways.mesh-staging.internal"},
        "cluster-b": {"cluster-a": "cluster-a.gateways.mesh-staging.internal"},
    }
    for reg in of_type(result, ZONE) + of_type(result, RECORD):
        assert provider_cluster(result, reg) == reg.name.split("-to-")[0]


def test_only_consumed_producers_get_a_gateway(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        # cluster-a exports nothing any more: only cluster-b's backend-api, consumed by cluster-a
        cfg["meshbridge:services"] = [s for s in cfg["meshbridge:services"] if s["exportedFrom"] == ["cluster-b"]]
        cfg["meshbridge:distribute"] = []

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    assert [r.name for r in of_type(result, NLB)] == ["cluster-b-eastwest-nlb"]
    assert [r.name for r in of_type(result, SERVICE)] == ["cluster-b-eastwest-endpoint-service"]
    assert [r.name for r in of_type(result, ENDPOINT)] == ["cluster-a-to-cluster-b-endpoint"]
    assert [r.name for r in of_type(result, TGB)] == ["cluster-b-eastwest-tgb"]
    assert result.outputs["clusters"]["cluster-a"].get("gateway") is None
    assert gateway_addresses(result) == {
        "cluster-a": {"cluster-b": placeholder("cluster-a-to-cluster-b-endpoint", "dnsEntries[0].dnsName")},
        "cluster-b": {},
    }


def test_production_pairs_come_from_the_consumers(production: SynthResult) -> None:
    # checkout: exported from and consumed by all three; ledger: prod-use1 -> usw2, euw1
    clusters = ["prod-use1", "prod-usw2", "prod-euw1"]
    pairs = sorted((c, p) for c in clusters for p in clusters if c != p)
    assert sorted(r.name for r in of_type(production, ENDPOINT)) == sorted(f"{c}-to-{p}-endpoint" for c, p in pairs)
    services = named(production, SERVICE)
    regions = {"prod-use1": "us-east-1", "prod-usw2": "us-west-2", "prod-euw1": "eu-west-1"}
    accounts = {"prod-use1": "333333333333", "prod-usw2": "444444444444", "prod-euw1": "555555555555"}
    for producer in clusters:
        svc = services[f"{producer}-eastwest-endpoint-service"]
        others = [c for c in clusters if c != producer]
        roles = sorted(f"arn:aws:iam::{accounts[c]}:role/mesh-deployer" for c in others)
        assert sorted(svc["allowedPrincipals"]) == roles
        assert {regions[c] for c in others} <= set(svc["supportedRegions"])
    for reg in of_type(production, ENDPOINT):
        consumer, producer = reg.name.removesuffix("-endpoint").split("-to-")
        assert inputs(reg)["serviceRegion"] == regions[producer]
        assert region_of_provider(production, reg) == regions[consumer]


# ------------------------------------------------------------------------ TargetGroupBinding


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields as errors (what the API server's pruning would drop)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def _validate_against_crd(obj: dict[str, Any]) -> list[str]:
    crd = yaml.safe_load(require_shared(CRD).read_text())
    group, version = obj["apiVersion"].split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == obj["kind"]
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    if version not in served:
        return [f"apiVersion {obj['apiVersion']} is not served by the CRD"]
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]
    meta = obj.get("metadata") or {}
    if not meta.get("name") or not meta.get("namespace"):
        errors.append("metadata: name and namespace are required (namespaced CRD)")
    return errors


def _tgbs(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {r.name: inputs(r) for r in of_type(result, TGB)}


def test_target_group_binding_binds_the_gateway_service(staging: SynthResult) -> None:
    tgbs = _tgbs(staging)
    assert sorted(tgbs) == ["cluster-a-eastwest-tgb", "cluster-b-eastwest-tgb"]
    for producer in ("cluster-a", "cluster-b"):
        reg = next(r for r in of_type(staging, TGB) if r.name == f"{producer}-eastwest-tgb")
        obj = tgbs[reg.name]
        assert obj["apiVersion"] == "elbv2.k8s.aws/v1beta1"
        assert obj["metadata"]["name"] == "istio-eastwestgateway"
        assert obj["metadata"]["namespace"] == "istio-system"
        spec = obj["spec"]
        assert spec["serviceRef"] == {"name": "istio-eastwestgateway", "port": 15443}
        assert spec["targetType"] == "ip"
        assert spec["targetGroupARN"] == placeholder(f"{producer}-eastwest-tg", "arn")
        # pods open to the NLB's security group only, on the traffic and health ports
        (rule,) = spec["networking"]["ingress"]
        assert rule["from"] == [{"securityGroup": {"groupID": placeholder(f"{producer}-eastwest-nlb-sg", "id")}}]
        assert sorted(p["port"] for p in rule["ports"]) == [15021, 15443]
        # on the producer's Kubernetes provider, after its istio-system namespace
        assert provider_cluster(staging, reg) == producer
        assert any(d.endswith(f"::{producer}-istio-system") for d in reg.dependencies)


@pytest.mark.parametrize("validate", [validate_object, _validate_against_crd], ids=["shared-validator", "crd-direct"])
def test_target_group_binding_validates_against_its_crd(staging: SynthResult, validate: Any) -> None:
    tgbs = _tgbs(staging)
    assert tgbs
    for name, obj in tgbs.items():
        assert validate(obj) == [], name


@pytest.mark.parametrize("validate", [validate_object, _validate_against_crd], ids=["shared-validator", "crd-direct"])
def test_crd_validation_can_fail(staging: SynthResult, validate: Any) -> None:
    obj = copy.deepcopy(next(iter(_tgbs(staging).values())))
    obj["spec"]["targetType"] = "pod"
    obj["spec"]["serviceRef"]["nmae"] = "typo"
    errors = validate(obj)
    assert any("targetType" in e for e in errors)
    assert any("nmae" in e for e in errors)


# ------------------------------------------------------------------------------ bad inputs


def _cluster(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in cfg["meshbridge:clusters"] if c["name"] == name)


def _not_allowed(cfg: dict[str, Any]) -> None:
    cfg["meshbridge:mesh"]["allowedAccounts"] = ["111111111111"]


def _subnets_missing(cfg: dict[str, Any]) -> None:
    del _cluster(cfg, "cluster-a")["vpc"]["subnetIds"]


def _subnets_empty(cfg: dict[str, Any]) -> None:
    _cluster(cfg, "cluster-a")["vpc"]["subnetIds"] = []


def _routed_overlap(cfg: dict[str, Any]) -> None:
    cfg["meshbridge:mesh"]["connectivity"] = "routed"
    _cluster(cfg, "cluster-b")["vpc"] = {"cidr": "10.10.128.0/17"}


def _bad_gateway_dns(cfg: dict[str, Any]) -> None:
    cfg["meshbridge:mesh"]["gatewayDns"] = "Gateways_Mesh.internal."


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (_not_allowed, "meshbridge:clusters[1].accountId"),
        (_not_allowed, "meshbridge:services[1].consumers[0].cluster"),
        (_subnets_missing, "meshbridge:clusters[0].vpc.subnetIds"),
        (_subnets_empty, "meshbridge:clusters[0].vpc.subnetIds"),
        (_routed_overlap, "meshbridge:clusters[1].vpc.cidr"),
        (_bad_gateway_dns, "meshbridge:mesh.gatewayDns"),
    ],
    ids=[
        "account-not-allowed",
        "consumer-account-not-allowed",
        "subnets-missing",
        "subnets-empty",
        "routed-overlap",
        "gateway-dns",
    ],
)
def test_bad_inputs_fail_with_the_key_path(tmp_path: Path, mutate: Any, key: str) -> None:
    result = run_variant(tmp_path, mutate)
    assert result.registrations == []
    assert any(line.startswith(f"{key}:") for line in result.errors), result.errors


def test_routed_with_distinct_cidrs_is_fine(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["connectivity"] = "routed"
        _cluster(cfg, "cluster-b")["vpc"] = {"cidr": "10.11.0.0/16"}

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    cidrs = {inputs(r)["cidrIpv4"] for r in of_type(result, SG_IN)}
    assert cidrs == {"10.10.0.0/16", "10.11.0.0/16"}


def test_stack_files_keep_the_staging_topology() -> None:
    # the assertions above rely on these facts of Pulumi.staging.yaml
    cfg = stack_config("staging")["config"]
    a, b = _cluster(cfg, "cluster-a"), _cluster(cfg, "cluster-b")
    assert (a["region"], a["accountId"], a["vpc"]["subnetIds"]) == ("us-east-1", "111111111111", A_SUBNETS)
    assert (b["region"], b["accountId"]) == ("us-west-2", "222222222222")
    assert b["infraStack"]["outputs"]["subnetIds"] == "privateSubnetIds"
