"""Local connectivity (`meshbridge:mesh.connectivity: local`, docs/local.md), on the real program
through synth: no AWS resource or provider, LoadBalancer east-west gateways at the configured
addresses, STATIC or DNS resolution, the addresses in every consumer, and the refused configurations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synth.engine import SynthResult, redact, run_program
from tests.conftest import Mutation, cluster_objects, run_variant
from tests.conftest import delete_at as _drop
from tests.conftest import set_at as _set

A_ADDR, B_ADDR = "172.18.255.200", "172.18.255.220"
CHART = "meshbridge:helm:Chart"
CA_DATA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


@pytest.fixture(scope="module")
def local() -> SynthResult:
    result = run_program("local")
    assert result.ok, result.errors
    return result


def service_entries(result: SynthResult, cluster: str) -> list[dict[str, Any]]:
    return [o for o in cluster_objects(result, cluster) if o.get("kind") == "ServiceEntry"]


def chart_values(result: SynthResult, key: str) -> list[dict[str, Any]]:
    """The values of every Helm release whose values have the top-level key `key`."""
    values = [redact(r.inputs).get("values") or {} for r in result.registrations if r.type == CHART]
    return [v for v in values if key in v]


def test_no_aws_resource_or_provider_is_registered(local: SynthResult) -> None:
    types = {r.type for r in local.registrations}
    assert not [t for t in types if t.startswith("aws:") or t == "pulumi:providers:aws"], sorted(types)
    assert not [t for t in types if "elbv2.k8s.aws" in t or t.startswith("meshbridge:network:")], sorted(types)
    for cluster in ("cluster-a", "cluster-b"):
        for ns in (o for o in cluster_objects(local, cluster) if o.get("kind") == "Namespace"):
            labels = ns["metadata"].get("labels") or {}
            assert not [k for k in labels if "elbv2.k8s.aws" in k], labels


def test_gateways_are_load_balancers_at_the_configured_addresses(local: SynthResult) -> None:
    services = sorted(
        (v["networkGateway"], v["service"].get("type"), v["service"].get("loadBalancerIP"))
        for v in chart_values(local, "networkGateway")
    )
    assert services == [("network-a", "LoadBalancer", A_ADDR), ("network-b", "LoadBalancer", B_ADDR)]


def test_ip_addresses_give_static_resolution_and_reach_every_consumer(local: SynthResult) -> None:
    for consumer, address in (("cluster-a", B_ADDR), ("cluster-b", A_ADDR)):
        (se,) = service_entries(local, consumer)
        assert se["spec"]["resolution"] == "STATIC"
        assert [e["address"] for e in se["spec"]["endpoints"]] == [address]
        assert [set(e["ports"].values()) for e in se["spec"]["endpoints"]] == [{15443}]
    clusters = local.outputs["clusters"]
    assert clusters["cluster-a"]["gatewayAddresses"] == {"cluster-b": B_ADDR}
    assert clusters["cluster-b"]["gatewayAddresses"] == {"cluster-a": A_ADDR}
    assert clusters["cluster-a"]["gateway"] == {"address": A_ADDR, "port": 15443}
    assert local.outputs["mesh"]["connectivity"] == "local"


def _clusters(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return cfg["meshbridge:clusters"]


def test_a_dns_name_gives_dns_resolution(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        _clusters(cfg)[1]["gateway"] = {"address": "gw.cluster-b.lan"}

    result = run_variant(tmp_path, mutate, stack="local")
    assert result.ok, result.errors
    (se_a,) = service_entries(result, "cluster-a")
    assert se_a["spec"]["resolution"] == "DNS"
    assert [e["address"] for e in se_a["spec"]["endpoints"]] == ["gw.cluster-b.lan"]
    (se_b,) = service_entries(result, "cluster-b")
    assert se_b["spec"]["resolution"] == "STATIC"
    assert result.outputs["clusters"]["cluster-a"]["gatewayAddresses"] == {"cluster-b": "gw.cluster-b.lan"}
    # a DNS name: the LoadBalancer Service asks for no particular IP
    values = [v for v in chart_values(result, "networkGateway") if v["networkGateway"] == "network-b"]
    assert values and "loadBalancerIP" not in values[0]["service"]


def test_multi_primary_mesh_networks_use_the_configured_addresses(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["model"] = "multi-primary"
        for i, c in enumerate(_clusters(cfg)):
            c["apiServer"] = {"endpoint": f"https://172.18.0.{i + 2}:6443", "caData": CA_DATA}

    result = run_variant(tmp_path, mutate, stack="local")
    assert result.ok, result.errors
    istiod = [v for v in chart_values(result, "global") if "meshNetworks" in v["global"]]
    assert len(istiod) == 2
    seen = set()
    for values in istiod:
        for net, entry in values["global"]["meshNetworks"].items():
            for gw in entry.get("gateways") or []:
                seen.add((net, gw["address"], gw["port"]))
    assert seen == {("network-a", A_ADDR, 15443), ("network-b", B_ADDR, 15443)}


C, M = "meshbridge:clusters", "meshbridge:mesh"
BAD_LOCAL = [
    ("account-id", _set([C, 0, "accountId"], "111111111111"), "meshbridge:clusters[0].accountId: not used in local"),
    ("vpc", _set([C, 1, "vpc"], {"id": "vpc-0a1b2c3d4e5f60001"}), "meshbridge:clusters[1].vpc.id: not used in local"),
    (
        "role",
        _set([C, 0, "aws"], {"assumeRoleArn": "arn:aws:iam::111111111111:role/x"}),
        "meshbridge:clusters[0].aws.assumeRoleArn: not used in local",
    ),
    (
        "infra-vpc",
        _set([C, 0, "infraStack"], {"name": "acme/infra/dev", "outputs": {"vpcId": "vpcId"}}),
        "meshbridge:clusters[0].infraStack.outputs.vpcId: not used in local",
    ),
    ("no-gateway", _drop([C, 1, "gateway"]), "meshbridge:clusters[1].gateway.address: required in local"),
    ("ip-range", _set([C, 0, "gateway", "address"], "256.18.255.1"), "meshbridge:clusters[0].gateway.address"),
    ("short-ip", _set([C, 0, "gateway", "address"], "172.18.255"), "meshbridge:clusters[0].gateway.address"),
    ("loopback", _set([C, 0, "gateway", "address"], "127.0.0.1"), "meshbridge:clusters[0].gateway.address"),
    ("upper", _set([C, 0, "gateway", "address"], "GW.Example.lan"), "meshbridge:clusters[0].gateway.address"),
    ("newline", _set([C, 0, "gateway", "address"], "172.18.255.200\n"), "meshbridge:clusters[0].gateway.address"),
    ("number", _set([C, 0, "gateway", "address"], 3232235777), "meshbridge:clusters[0].gateway.address"),
    ("typo", _set([C, 0, "gateway"], {"adress": A_ADDR}), "meshbridge:clusters[0].gateway.adress"),
    ("same-address", _set([C, 1, "gateway", "address"], A_ADDR), "meshbridge:clusters[1].gateway.address: "),
    ("gateway-dns", _set([M, "gatewayDns"], "mesh.internal"), "meshbridge:mesh.gatewayDns: not used in local"),
    ("accounts", _set([M, "allowedAccounts"], ["111111111111"]), "meshbridge:mesh.allowedAccounts: not used"),
    ("mode", _set([M, "connectivity"], "lan"), "meshbridge:mesh.connectivity"),
]


@pytest.mark.parametrize("mutation,path", [(m, p) for _, m, p in BAD_LOCAL], ids=[i for i, _, _ in BAD_LOCAL])
def test_bad_local_config_is_refused_with_its_key_path(tmp_path: Path, mutation: Mutation, path: str) -> None:
    result = run_variant(tmp_path, mutation, stack="local")
    assert result.errors, "the configuration mistake was accepted"
    assert any(line.startswith(path) for line in result.errors), result.errors
    assert result.registrations == []


def test_a_gateway_address_is_refused_outside_local_mode(tmp_path: Path) -> None:
    result = run_variant(tmp_path, _set([C, 0, "gateway"], {"address": A_ADDR}))
    assert any(line.startswith("meshbridge:clusters[0].gateway: only with") for line in result.errors), result.errors
    assert result.registrations == []


def test_aws_modes_keep_cluster_ip_gateways_and_dns_resolution(staging: SynthResult) -> None:
    for cluster in ("cluster-a", "cluster-b"):
        assert {se["spec"]["resolution"] for se in service_entries(staging, cluster)} == {"DNS"}
    types = {r.type for r in staging.registrations}
    assert "pulumi:providers:aws" in types
