"""The CrossGuard rules as plain functions: one passing and one failing resource each, then whole stacks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy.rules import ADVISORY, RESOURCE_RULES, STACK_RULES, Res, violations
from synth.engine import SynthResult, redact
from tests.conftest import stack_config, stacks

LB = "aws:lb/loadBalancer:LoadBalancer"
KEY = "tls:index/privateKey:PrivateKey"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
ROOT_KEY_URN = "urn:pulumi:production::meshbridge::pulumi:pulumi:Stack$meshbridge:pki:RootCa$" + KEY + "::root-key"


def _istio(
    kind: str,
    spec: dict,
    name: str = "x",
    namespace: str = "istio-system",
    stack: str = "production",
    provider: str = "p-a",
) -> Res:
    typ = f"kubernetes:networking.istio.io/v1:{kind}"
    return Res(
        type=typ,
        name=name,
        urn=f"urn:pulumi:{stack}::meshbridge::{typ}::{name}",
        props={
            "apiVersion": "networking.istio.io/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        },
        provider=provider,
    )


def _ingress_service(scheme: str) -> Res:
    """The ingress gateway's Service as the chart renders it, in this NLB scheme."""
    return Res(
        "kubernetes:core/v1:Service",
        "cluster-a-istio-ingressgateway:istio-system/istio-ingressgateway",
        props={
            "kind": "Service",
            "metadata": {
                "name": "istio-ingressgateway",
                "namespace": "istio-system",
                "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": scheme},
            },
        },
    )


OIDC = "arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EX"


def _irsa_trust(sub: str) -> dict[str, Any]:
    issuer = OIDC.split(":oidc-provider/")[1]
    condition = {"StringEquals": {f"{issuer}:sub": sub, f"{issuer}:aud": "sts.amazonaws.com"}}
    statement = {"Effect": "Allow", "Principal": {"Federated": OIDC}, "Condition": condition}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Action": "sts:AssumeRoleWithWebIdentity"}]}


RESOURCE_CASES = {
    "load-balancers-internal": (
        Res(LB, "nlb", props={"internal": True, "loadBalancerType": "network"}),
        Res(LB, "nlb", props={"internal": False, "loadBalancerType": "network"}),
    ),
    "services-not-internet-facing": (  # issue 29: also a Service no config check saw (e.g. a chart's)
        Res(
            "kubernetes:core/v1:Service",
            "s",
            props={
                "kind": "Service",
                "metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
                "spec": {"type": "LoadBalancer"},
            },
        ),
        Res(
            "kubernetes:core/v1:Service",
            "s",
            props={
                "kind": "Service",
                "metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}},
                "spec": {"type": "LoadBalancer"},
            },
        ),
    ),
    "ingress-gateway-internet-facing": (  # issue 27: flagged (advisory), not refused
        _ingress_service("internal"),
        _ingress_service("internet-facing"),
    ),
    "no-open-ingress": (
        Res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "r", props={"cidrIpv4": "10.0.0.0/16"}),
        Res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "r", props={"cidrIpv6": "::/0"}),
    ),
    "endpoint-services-not-public": (
        Res("aws:ec2/vpcEndpointService:VpcEndpointService", "s", props={"allowedPrincipals": ["arn:aws:iam::1:root"]}),
        Res("aws:ec2/vpcEndpointService:VpcEndpointService", "s", props={"allowedPrincipals": ["*"]}),
    ),
    "gateway-hosts-explicit": (
        _istio("Gateway", {"servers": [{"hosts": ["a.b.svc.cluster.local"]}]}),
        _istio("Gateway", {"servers": [{"hosts": ["*.local"]}]}),
    ),
    "root-sidecar-keeps-all-namespaces": (  # more cases in tests/test_traffic.py
        _istio("Sidecar", {"egress": [{"hosts": ["*/*"]}]}, name="default"),
        _istio("Sidecar", {"egress": [{"hosts": ["./*", "istio-system/*"]}]}, name="default"),
    ),
    "ca-key-strength": (
        Res(KEY, "k", props={"algorithm": "ECDSA", "ecdsaCurve": "P256"}),
        Res(KEY, "k", props={"algorithm": "RSA", "rsaBits": 1024}),
    ),
    "root-ca-key-protected": (
        Res(KEY, "root-key", urn=ROOT_KEY_URN, props={"algorithm": "RSA", "rsaBits": 4096}, protect=True),
        Res(KEY, "root-key", urn=ROOT_KEY_URN, props={"algorithm": "RSA", "rsaBits": 4096}, protect=False),
    ),
    "web-identity-scoped": (
        Res("aws:iam/role:Role", "r", props={"assumeRolePolicy": json.dumps(_irsa_trust("system:serviceaccount:a:b"))}),
        Res("aws:iam/role:Role", "r", props={"assumeRolePolicy": json.dumps(_irsa_trust("system:serviceaccount:a:*"))}),
    ),
    "intermediate-ca-expiry": (
        Res(
            "tls:index/locallySignedCert:LocallySignedCert",
            "c-intermediate-ca-cert",
            props={"validityEndTime": "2099-01-01T00:00:00Z"},
        ),
        Res(
            "tls:index/locallySignedCert:LocallySignedCert",
            "c-intermediate-ca-cert",
            props={"validityEndTime": "2000-01-01T00:00:00Z"},
        ),
    ),
}

PA = "security.istio.io/v1"
STACK_CASES = {
    "strict-mtls-in-production": (
        [_istio("PeerAuthentication", {"mtls": {"mode": "STRICT"}})],
        [_istio("PeerAuthentication", {"mtls": {"mode": "PERMISSIVE"}})],
    ),
    "imported-hosts-istio-mutual": (
        [
            _istio("ServiceEntry", {"hosts": ["a.mesh"], "location": "MESH_INTERNAL"}, name="se"),
            _istio("DestinationRule", {"host": "a.mesh", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}, "dr"),
        ],
        [
            _istio("ServiceEntry", {"hosts": ["a.mesh"], "location": "MESH_INTERNAL"}, name="se"),
            # the DestinationRule exists, but in another cluster
            _istio(
                "DestinationRule",
                {"host": "a.mesh", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
                "dr",
                provider="p-b",
            ),
        ],
    ),
}


def test_every_rule_has_cases() -> None:
    assert set(RESOURCE_CASES) == set(RESOURCE_RULES)
    assert set(STACK_CASES) == set(STACK_RULES)


@pytest.mark.parametrize("name", sorted(RESOURCE_CASES))
def test_resource_rule_passes_and_fails(name: str) -> None:
    good, bad = RESOURCE_CASES[name]
    rule = RESOURCE_RULES[name][1]
    assert rule(good) == []
    assert rule(bad), f"{name} accepted {bad}"


@pytest.mark.parametrize("name", sorted(STACK_CASES))
def test_stack_rule_passes_and_fails(name: str) -> None:
    good, bad = STACK_CASES[name]
    rule = STACK_RULES[name][1]
    assert rule(good) == []
    assert rule(bad), f"{name} accepted {bad}"


def test_permissive_mtls_is_fine_outside_production() -> None:
    staging_pa = _istio("PeerAuthentication", {"mtls": {"mode": "PERMISSIVE"}}, stack="staging")
    assert STACK_RULES["strict-mtls-in-production"][1]([staging_pa]) == []


def as_policy_resources(result: SynthResult) -> list[Res]:
    return [
        Res(type=r.type, name=r.name, urn=r.urn, props=redact(r.inputs), protect=r.protect, provider=r.provider)
        for r in result.registrations
    ]


@pytest.mark.parametrize("stack", stacks())
def test_synthesized_stacks_have_no_violation(stack: str, request: pytest.FixtureRequest) -> None:
    from synth.engine import run_program

    result = run_program(stack)
    assert result.ok, result.errors
    resources = as_policy_resources(result)
    kinds = {r.type for r in resources}
    # the rules really saw what they guard (a routed stack has no endpoint service, a local one no
    # AWS resource at all)
    mode = stack_config(stack)["config"]["meshbridge:mesh"].get("connectivity", "privatelink")
    guarded = {"privatelink": [LB, "aws:ec2/vpcEndpointService:VpcEndpointService"], "routed": [LB], "local": []}
    # the CA keys: pulumi-tls keys, the keys cert-manager makes for the Certificates, or (aws-pca)
    # those too and the root's in AWS Private CA, whose issuer roles trust one ServiceAccount each
    backend = stack_config(stack)["config"]["meshbridge:ca"].get("backend", "pulumi-tls")
    keys = {
        "pulumi-tls": [KEY],
        "cert-manager": [CERTIFICATE],
        "aws-pca": [CERTIFICATE, "aws:acmpca/certificateAuthority:CertificateAuthority", "aws:iam/role:Role"],
    }[backend]
    assert {*keys, *guarded[mode]} <= kinds
    assert violations(resources) == []


def test_internet_facing_nlb_or_open_group_in_a_synthesized_stack_is_reported(staging: SynthResult) -> None:
    resources = as_policy_resources(staging)
    mutated = []
    for r in resources:
        if r.type == LB:
            r = Res(r.type, r.name, r.urn, {**copy.deepcopy(r.props), "internal": False}, r.protect, r.provider)
        mutated.append(r)
    found = violations(mutated)
    assert {name for name, _ in found} == {"load-balancers-internal"}

    opened = [
        *resources,
        Res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "open",
            props={"cidrIpv4": "0.0.0.0/0", "fromPort": 15443, "toPort": 15443},
        ),
    ]
    assert {name for name, _ in violations(opened)} == {"no-open-ingress"}


def test_rules_see_preview_properties_as_plain_data() -> None:
    """The pack hands the rules pulumi_policy's proxied properties through policy/props.py: a list is a
    list (0.0.0.0/0 in cidrBlocks is found) and an unknown value elsewhere does not hide the rest."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

    from policy.props import UNKNOWN, plain

    proxied = unknown_checking_proxy(
        {"type": "ingress", "cidrBlocks": ["10.0.0.0/16", "0.0.0.0/0"], "securityGroupId": UNKNOWN_STRING_VALUE}
    )
    props = plain(proxied)
    assert props["securityGroupId"] is UNKNOWN
    assert props["cidrBlocks"] == ["10.0.0.0/16", "0.0.0.0/0"]
    rule = RESOURCE_RULES["no-open-ingress"][1]
    found = rule(Res(type="aws:ec2/securityGroupRule:SecurityGroupRule", name="sg", props=props))
    assert found == ["security group rule of sg admits 0.0.0.0/0; admit the peer VPC CIDRs only"]
    # the two faults make e2e found with the pack's old `dict(props)`: an unknown value anywhere
    # raised (pulumi_policy then skips the rule), and a proxied list was not a list
    with pytest.raises(UnknownValueError):
        dict(proxied)
    known = unknown_checking_proxy({"type": "ingress", "cidrBlocks": ["0.0.0.0/0"]})
    assert not rule(Res(type="aws:ec2/securityGroupRule:SecurityGroupRule", name="sg", props=dict(known)))


def test_an_internet_facing_ingress_gateway_is_flagged_not_refused_and_no_other_service_may_be() -> None:
    """Issue 27: the ingress gateway a cluster asks to be internet-facing is reported (advisory); the
    same annotation on any other Service is still refused."""
    bad = RESOURCE_CASES["ingress-gateway-internet-facing"][1]
    assert RESOURCE_RULES["services-not-internet-facing"][1](bad) == []
    assert "ingress-gateway-internet-facing" in ADVISORY
    elsewhere = Res(
        "kubernetes:core/v1:Service",
        "s",
        props={"kind": "Service", "metadata": {**bad.props["metadata"], "namespace": "default"}},
    )
    assert RESOURCE_RULES["services-not-internet-facing"][1](elsewhere)
    assert RESOURCE_RULES["ingress-gateway-internet-facing"][1](elsewhere) == []
