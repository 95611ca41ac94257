"""Components one at a time on the mock engine (`synth.engine.run_component`), for the cases that no
stack file reaches through the whole program, and the conventions every component follows."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.constants import EASTWEST_RELEASE, GATEWAY_PORT, ISTIO_NAMESPACE, MANAGED_BY
from components.network import (
    GatewayBindingArgs,
    GatewayConsumer,
    GatewayEndpoint,
    GatewayEndpointArgs,
    PrivateGateway,
    PrivateGatewayArgs,
)
from components.services import ImportedHost, LocalEndpoint, ServiceImport, ServiceImportArgs, ServicePort
from synth.engine import Registration, SynthResult, placeholder, redact, run_component
from tests.conftest import of_type

SE = "kubernetes:networking.istio.io/v1:ServiceEntry"
DR = "kubernetes:networking.istio.io/v1:DestinationRule"
SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SERVICE = "aws:ec2/vpcEndpointService:VpcEndpointService"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
NLB = "aws:lb/loadBalancer:LoadBalancer"
SUBNETS = ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"]


def only(result: SynthResult, typ: str) -> dict[str, Any]:
    regs = of_type(result, typ)
    assert len(regs) == 1, [r.name for r in regs]
    return redact(regs[0].inputs)


def component(result: SynthResult, typ: str) -> Registration:
    return next(r for r in result.registrations if r.type == typ)


def assert_children_follow_the_conventions(
    result: SynthResult, typ: str, outside: tuple[str, ...] = (), named_from_component: bool = True
) -> None:
    """Every resource the component registers is its child (parent chain), on an explicit provider,
    and named from the component's name. `outside`: resources the test itself made for the args.
    ServiceImport names its children `<cluster>-se-<host>` / `<cluster>-dr-<host>`, as deployed
    stacks have them (stacks/names.py)."""
    comp = component(result, typ)
    providers = {r.urn for r in result.registrations if r.type.startswith("pulumi:providers:")}
    by_urn = {r.urn: r for r in result.registrations}
    for reg in result.registrations:
        if reg is comp or reg.urn in providers or reg.name in outside:
            continue
        parent = by_urn.get(reg.parent)
        while parent is not None and parent is not comp:
            parent = by_urn.get(parent.parent)
        assert parent is comp, f"{reg.name} is not under {comp.name}"
        if reg.custom:
            assert reg.provider in providers, f"{reg.name} has no explicit provider"
            if named_from_component:
                assert reg.name.startswith(comp.name + "-"), f"{reg.name} is not named from {comp.name}"


# ------------------------------------------------------------------------------ ServiceImport


def _import(local: LocalEndpoint | None, remote: list[Any]) -> ServiceImport:
    provider = k8s.Provider("k8s", context="cluster-a", cluster_identifier="cluster-a")
    return ServiceImport(
        "cluster-a-import-shop-cart",
        ServiceImportArgs(
            cluster="cluster-a",
            service="cart",
            namespace="shop",
            service_account="cart",
            trust_domain="cluster.local",
            import_namespace=ISTIO_NAMESPACE,
            ports=[ServicePort(number=80, name="http", protocol="HTTP", target_port=8080)],
            hosts=[ImportedHost("cart.mesh.internal", "cart.shop.svc.cluster.local")],
            remote=remote,
            local=local,
            provider=provider,
        ),
    )


def test_service_import_with_only_a_local_endpoint() -> None:
    """No remote producer: one endpoint, the local headless twin on the pods' port; no failover
    settings (one locality), the SNI of the real host because the host is an alias."""
    local = LocalEndpoint(
        cluster="cluster-a",
        network="network-a",
        locality="us-east-1/us-east-1a",
        address="cart-meshbridge-local.shop.svc.cluster.local",
    )
    result = run_component(lambda: _import(local, []))
    se = only(result, SE)
    assert se["spec"]["endpoints"] == [
        {
            "address": "cart-meshbridge-local.shop.svc.cluster.local",
            "labels": {"security.istio.io/tlsMode": "istio"},
            "locality": "us-east-1/us-east-1a",
            "network": "network-a",
            "ports": {"http": 8080},
        }
    ]
    assert se["metadata"]["labels"]["app.kubernetes.io/managed-by"] == MANAGED_BY["app.kubernetes.io/managed-by"]
    policy = only(result, DR)["spec"]["trafficPolicy"]
    assert "outlierDetection" not in policy and "loadBalancer" not in policy
    assert policy["tls"] == {"mode": "ISTIO_MUTUAL", "sni": "outbound_.80_._.cart.shop.svc.cluster.local"}
    assert_children_follow_the_conventions(result, "meshbridge:services:ServiceImport", named_from_component=False)


def test_service_import_without_any_endpoint_is_refused() -> None:
    with pytest.raises(Exception, match="no endpoint"):
        run_component(lambda: _import(None, []))


# ---------------------------------------------------------------------------- PrivateGateway


def _gateway(connectivity: Any) -> PrivateGateway:
    aws_provider = aws.Provider("aws", region="us-west-2")
    k8s_provider = k8s.Provider("k8s", context="cluster-b", cluster_identifier="cluster-b")
    namespace = k8s.core.v1.Namespace(
        "ns", metadata={"name": ISTIO_NAMESPACE}, opts=pulumi.ResourceOptions(provider=k8s_provider)
    )
    gateway = PrivateGateway(
        "cluster-b-eastwest",
        PrivateGatewayArgs(
            cluster="cluster-b",
            region="us-west-2",
            vpc_id="vpc-0b1b2c3d4e5f60002",
            vpc_cidrs=["10.20.0.0/16"],
            subnet_ids=SUBNETS,
            connectivity=connectivity,
            consumers=[
                GatewayConsumer(
                    name="cluster-a", account_id="111111111111", region="us-east-1", vpc_cidrs=["10.10.0.0/16"]
                ),
                GatewayConsumer(
                    name="cluster-c", account_id="333333333333", region="us-west-2", vpc_cidrs=["10.30.0.0/16"]
                ),
            ],
            aws_provider=aws_provider,
            k8s_provider=k8s_provider,
            istio_namespace=namespace,
        ),
    )
    gateway.bind(GatewayBindingArgs())
    return gateway


def test_private_gateway_in_routed_mode() -> None:
    """No endpoint service; the NLB's security group admits 15443 from each consumer's VPC CIDR only,
    and enforces its rules (no PrivateLink traffic to exempt)."""
    captured: dict[str, PrivateGateway] = {}

    def build() -> None:
        captured["gw"] = _gateway("routed")

    result = run_component(build)
    assert not of_type(result, SERVICE)
    assert captured["gw"].endpoint_service_name is None
    rules = sorted((redact(r.inputs) for r in of_type(result, SG_IN)), key=lambda r: r["cidrIpv4"])
    assert [(r["cidrIpv4"], r["fromPort"], r["toPort"]) for r in rules] == [
        ("10.10.0.0/16", GATEWAY_PORT, GATEWAY_PORT),
        ("10.30.0.0/16", GATEWAY_PORT, GATEWAY_PORT),
    ]
    nlb = only(result, NLB)
    assert nlb["internal"] is True
    assert nlb["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on"
    tgb = only(result, TGB)
    assert tgb["metadata"]["name"] == EASTWEST_RELEASE and tgb["metadata"]["namespace"] == ISTIO_NAMESPACE
    assert_children_follow_the_conventions(result, "meshbridge:network:PrivateGateway", outside=("ns",))


def test_private_gateway_in_privatelink_mode_serves_the_consumer_regions() -> None:
    result = run_component(lambda: _gateway("privatelink"))
    service = only(result, SERVICE)
    assert service["supportedRegions"] == ["us-east-1", "us-west-2"]
    assert service["allowedPrincipals"] == ["arn:aws:iam::111111111111:root", "arn:aws:iam::333333333333:root"]
    assert not of_type(result, SG_IN)


# --------------------------------------------------------------------------- GatewayEndpoint


def test_gateway_endpoint_without_gateway_dns() -> None:
    """No private zone nor record: the address is the endpoint's regional DNS name; a producer in
    another region is reached through `service_region`."""
    captured: dict[str, GatewayEndpoint] = {}

    def build() -> None:
        captured["ep"] = GatewayEndpoint(
            "cluster-a-to-cluster-b",
            GatewayEndpointArgs(
                consumer="cluster-a",
                producer="cluster-b",
                consumer_region="us-east-1",
                producer_region="us-west-2",
                vpc_id="vpc-0a1b2c3d4e5f60001",
                vpc_cidrs=["10.10.0.0/16"],
                subnet_ids=SUBNETS,
                service_name="com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0",
                aws_provider=aws.Provider("aws", region="us-east-1"),
            ),
        )
        captured["ep"].address.apply(lambda a: captured.setdefault("address", a))  # type: ignore[arg-type]

    result = run_component(build)
    assert not [r for r in result.registrations if r.type.startswith("aws:route53")]
    endpoint = only(result, ENDPOINT)
    assert endpoint["serviceRegion"] == "us-west-2"
    assert endpoint["vpcEndpointType"] == "Interface" and endpoint["privateDnsEnabled"] is False
    assert captured["address"] == placeholder("cluster-a-to-cluster-b-endpoint", "dnsEntries[0].dnsName")
    assert_children_follow_the_conventions(result, "meshbridge:network:GatewayEndpoint")


# ------------------------------------------------------------------------- the whole program


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_resource_is_a_components_child_on_an_explicit_provider(stack: str, request: Any) -> None:
    """child_opts for every child: parented to a meshbridge component, created on an explicit provider."""
    result: SynthResult = request.getfixturevalue(stack)
    by_urn = {r.urn: r for r in result.registrations}
    for reg in result.registrations:
        if not reg.custom or reg.read or reg.type.startswith("pulumi:providers:"):
            continue
        parent = by_urn.get(reg.parent)
        assert parent is not None and parent.type.startswith("meshbridge:"), f"{reg.name}: parent {reg.parent}"
        assert reg.provider in by_urn, f"{reg.name} is not on an explicit provider"
