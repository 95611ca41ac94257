"""Istio's discovery models: multi-primary with endpoint discovery, and primary-remote.

What a user sees: the remote secrets and reader accounts in the rendered clusters, istiod's Helm
values (meshNetworks, the remote profile), istiod exposed through the primary's gateway, the
kubeconfig a remote secret carries, and the configuration mistakes refused with their key paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from components.discovery import (
    READER,
    RemoteSecret,
    RemoteSecretArgs,
    reader_rules,
)
from stacks.config.load import parse_config
from stacks.config.problems import ConfigError
from synth.engine import SECRET, SynthResult, run_component, run_program, unwrap
from synth.render import helm_releases, k8s_objects
from tests.conftest import Mutation, of_type, stack_config


@pytest.fixture(scope="module")
def discovery() -> SynthResult:
    result = run_program("discovery")
    assert result.ok, result.errors
    return result


@pytest.fixture(scope="module")
def primary_remote() -> SynthResult:
    result = run_program("primary-remote")
    assert result.ok, result.errors
    return result


def _values(result: SynthResult, cluster: str, release: str = "istiod") -> dict[str, Any]:
    return unwrap(helm_releases(result)[cluster][f"{release}.yaml"]["values"])


def test_multi_primary_every_cluster_holds_a_remote_secret_of_every_other(discovery: SynthResult) -> None:
    objs = k8s_objects(discovery)
    for holder, target in (("disc-use1", "disc-usw2"), ("disc-usw2", "disc-use1")):
        secret = objs[holder][f"secret.istio-system.istio-remote-secret-{target}.yaml"]
        assert secret["metadata"]["labels"]["istio/multiCluster"] == "true"
        # the key is the cluster name; the kubeconfig is never shown
        assert secret["stringData"] == {target: SECRET}
        assert f"secret.istio-system.istio-remote-secret-{holder}.yaml" not in objs[holder]
        token = objs[target]["secret.istio-system.meshbridge-istio-reader-token.yaml"]
        assert token["type"] == "kubernetes.io/service-account-token"
        assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": READER}
        role = objs[target][f"clusterrole.{READER}.yaml"]
        assert role["rules"] == reader_rules(remote=False)


def test_remote_secrets_are_secret_in_state_and_outputs(discovery: SynthResult) -> None:
    secrets = [r for r in of_type(discovery, "kubernetes:core/v1:Secret") if "remote-secret" in r.name]
    assert secrets
    for reg in secrets:
        data = reg.inputs["stringData"]
        wrapped = rpc.is_rpc_secret(data) or rpc.is_rpc_secret(next(iter(data.values())))
        assert wrapped, "the kubeconfig is not a Pulumi secret"
    text = yaml.safe_dump(unwrap(discovery.outputs))
    assert "token:" not in text and "eks.amazonaws.com" not in text


def test_each_istiod_knows_every_remote_network_gateway_as_it_reaches_it(discovery: SynthResult) -> None:
    nets = _values(discovery, "disc-use1")["global"]["meshNetworks"]
    assert nets["net-use1"] == {"endpoints": [{"fromRegistry": "disc-use1"}]}
    assert nets["net-usw2"] == {
        "endpoints": [{"fromRegistry": "disc-usw2"}],
        # routed: the producer NLB's own DNS name, on the east-west gateway's port
        "gateways": [{"address": "${disc-usw2-eastwest-nlb.dnsName}", "port": 15443}],
    }
    assert _values(discovery, "disc-usw2")["global"]["meshNetworks"]["net-use1"]["gateways"] == [
        {"address": "${disc-use1-eastwest-nlb.dnsName}", "port": 15443}
    ]


def test_discovery_service_is_not_imported_but_exported_and_authorized(discovery: SynthResult) -> None:
    objs = k8s_objects(discovery)
    assert not [f for f in objs["disc-use1"] if f.startswith("serviceentry.") and "orders" in f]
    gateway = objs["disc-usw2"]["gateway.istio-system.cross-network-gateway.yaml"]
    assert gateway["spec"]["servers"][0]["hosts"] == ["orders.shop.svc.cluster.local"]
    assert "authorizationpolicy.shop.meshbridge-export-orders.yaml" in objs["disc-usw2"]
    # the explicit import of the same stack keeps its ServiceEntry under the alias
    assert "serviceentry.istio-system.ledger.disc-use1.local.yaml" in objs["disc-usw2"]


def test_a_discovered_service_gets_a_connectivity_check_that_waits_for_the_remote_secret(tmp_path: Path) -> None:
    """make e2e's istiod phase (multi-primary with checks on) found the program crashing with a
    KeyError: a check was planned for a discovered service, which has no import objects."""
    doc = stack_config("discovery")
    doc["config"]["meshbridge:verify"] = {"connectivity": {"enabled": True}}
    path = tmp_path / "Pulumi.discovery.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_program("discovery", config_file=path)
    assert result.ok, result.errors
    jobs = [r for r in result.registrations if r.type == "kubernetes:batch/v1:Job" and "orders" in r.name]
    assert jobs, "no connectivity check for the discovered service orders"
    # the consumer's istiod reads the producer through this remote secret: the check comes after it
    secret = next(r for r in result.registrations if r.name == "disc-use1-remote-secret-disc-usw2-secret")
    assert all(secret.urn in job.dependencies for job in jobs), [job.dependencies for job in jobs]


def test_remote_secret_kubeconfig_names_the_target_api_server_and_reader_token() -> None:
    captured: dict[str, Any] = {}

    def build() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("k8s", context="a", cluster_identifier="a")
        ns = k8s.core.v1.Namespace("ns", opts=pulumi.ResourceOptions(provider=provider))
        captured["rs"] = RemoteSecret(
            "a-remote-secret-b",
            RemoteSecretArgs(
                holder="a",
                target="b",
                server="https://b.example.eks.amazonaws.com",
                ca_data="Q0FDQUNBQ0FDQUNBQ0FDQUNB",
                token=pulumi.Output.secret("reader-token"),
                provider=provider,
                namespace=ns,
            ),
        )

    result = run_component(build)
    reg = next(r for r in result.registrations if r.type == "kubernetes:core/v1:Secret")
    doc = yaml.safe_load(unwrap(reg.inputs["stringData"])["b"])
    assert doc["clusters"][0] == {
        "cluster": {
            "certificate-authority-data": "Q0FDQUNBQ0FDQUNBQ0FDQUNB",
            "server": "https://b.example.eks.amazonaws.com",
        },
        "name": "b",
    }
    assert doc["users"][0]["user"]["token"] == "reader-token"
    assert doc["current-context"] == "b"


def test_primary_remote_values_and_istiod_exposure(primary_remote: SynthResult) -> None:
    remote = _values(primary_remote, "pr-use2")
    assert remote["profile"] == "remote"
    assert remote["global"]["remotePilotAddress"] == "${pr-use1-eastwest-nlb.dnsName}"
    assert remote["istiodRemote"] == {"injectionPath": "/inject/cluster/pr-use2/net/net-pr-use2"}
    assert _values(primary_remote, "pr-use2", "istio-base")["profile"] == "remote"
    primary = _values(primary_remote, "pr-use1")
    assert primary["global"]["externalIstiod"] is True
    assert set(primary["global"]["meshNetworks"]) == {"net-pr-use1", "net-pr-use2"}
    objs = k8s_objects(primary_remote)
    gw = objs["pr-use1"]["gateway.istio-system.istiod-gateway.yaml"]["spec"]
    assert sorted(s["port"]["number"] for s in gw["servers"]) == [15012, 15017]
    assert all(s["tls"]["mode"] == "PASSTHROUGH" and s["hosts"] == ["istiod.istio-system.svc"] for s in gw["servers"])
    vs = objs["pr-use1"]["virtualservice.istio-system.istiod-vs.yaml"]["spec"]
    assert [(t["match"][0]["port"], t["route"][0]["destination"]["port"]["number"]) for t in vs["tls"]] == [
        (15012, 15012),
        (15017, 443),
    ]
    # only the primary holds a remote secret, only the remote has a reader; the remote's reader may
    # write what the primary's istiod writes there
    assert "secret.istio-system.istio-remote-secret-pr-use2.yaml" in objs["pr-use1"]
    assert not [f for f in objs["pr-use2"] if "remote-secret" in f]
    assert objs["pr-use2"][f"clusterrole.{READER}.yaml"]["rules"] == reader_rules(remote=True)
    assert "gateway.istio-system.cross-network-gateway.yaml" not in objs["pr-use2"]
    listeners = sorted(int(unwrap(r.inputs)["port"]) for r in of_type(primary_remote, "aws:lb/listener:Listener"))
    assert listeners == [443, 15012, 15443, 15443]
    bindings = [k for k in objs["pr-use1"] if k.startswith("targetgroupbinding.")]
    assert len(bindings) == 3


def test_a_remote_exports_with_its_istio_objects_in_the_primary(primary_remote: SynthResult) -> None:
    """ledger runs in the remote pr-use2: its ALLOW policy and allow-nothing baseline are in the
    primary's API server (namespace fin), where the one istiod reads them, and its host is on the
    primary's cross-network-gateway, which that istiod applies to pr-use2's gateway too; pr-use2 has
    no Istio object of the export (its own would be ignored)."""
    objs = k8s_objects(primary_remote)
    policy = objs["pr-use1"]["authorizationpolicy.fin.meshbridge-export-ledger-pr-use2.yaml"]
    assert policy["spec"]["selector"] == {"matchLabels": {"app": "ledger"}}
    rules = policy["spec"]["rules"]
    assert rules[0]["from"][0]["source"]["principals"] == ["cluster.local/ns/shop/sa/checkout"]
    assert rules[0]["to"][0]["operation"]["methods"] == ["GET"]
    assert [f for f in objs["pr-use1"] if f.startswith("authorizationpolicy.fin.meshbridge-baseline-")]
    assert not [f for f in objs["pr-use2"] if f.startswith("authorizationpolicy.")]
    gateway = objs["pr-use1"]["gateway.istio-system.cross-network-gateway.yaml"]["spec"]
    assert gateway["servers"][0]["hosts"] == ["ledger.fin.svc.cluster.local", "payments.pay.svc.cluster.local"]
    assert "gateway.istio-system.cross-network-gateway.yaml" not in objs["pr-use2"]
    # the policy is created by the primary's provider, after the primary's istiod (CRDs, webhook)
    by_name = {r.name: r for r in primary_remote.registrations}
    authz = by_name["pr-use2-fin-ledger-authz"]
    assert authz.provider.endswith("::pr-use1-k8s")
    assert any(d.endswith("::pr-use1-istiod") for d in authz.dependencies), authz.dependencies


# ------------------------------------------------------------------------------ refusals


def _raw(stack: str) -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in stack_config(stack)["config"].items() if k.startswith("meshbridge:")}


def _problems(stack: str, mutate: Mutation) -> list[str]:
    raw = _raw(stack)
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        parse_config(raw, Path(__file__).resolve().parent.parent)
    return err.value.problems


def _privatelink(raw: dict[str, Any]) -> None:
    raw["mesh"]["connectivity"] = "privatelink"


def _no_primary(raw: dict[str, Any]) -> None:
    del raw["mesh"]["primaryCluster"]


def _unknown_primary(raw: dict[str, Any]) -> None:
    raw["mesh"]["primaryCluster"] = "pr-zz"


def _no_endpoint(raw: dict[str, Any]) -> None:
    del raw["clusters"][1]["apiServer"]["endpoint"]


def _in_cluster_endpoint(raw: dict[str, Any]) -> None:
    raw["clusters"][0]["apiServer"]["endpoint"] = "https://kubernetes.default.svc"


def _alias_discovery(raw: dict[str, Any]) -> None:
    raw["services"][0]["alias"] = "orders.disc-usw2.local"


def _discovery_in_imports(raw: dict[str, Any]) -> None:
    raw["mesh"]["model"] = "imports"


def _remote_explicit_import(raw: dict[str, Any]) -> None:
    raw["services"][0]["importMode"] = "explicit"


@pytest.mark.parametrize(
    ("stack", "mutate", "path"),
    [
        ("discovery", _privatelink, "meshbridge:clusters[0].apiServer.reachable:"),
        ("discovery", _in_cluster_endpoint, "meshbridge:clusters[0].apiServer.endpoint:"),
        ("discovery", _alias_discovery, "meshbridge:services[0].importMode:"),
        ("discovery", _discovery_in_imports, "meshbridge:services[0].importMode:"),
        ("primary-remote", _no_primary, "meshbridge:mesh.primaryCluster:"),
        ("primary-remote", _unknown_primary, "meshbridge:mesh.primaryCluster:"),
        ("primary-remote", _privatelink, "meshbridge:mesh.gatewayDns:"),
        ("primary-remote", _no_endpoint, "meshbridge:clusters[1].apiServer.endpoint:"),
        ("primary-remote", _remote_explicit_import, "meshbridge:services[0].consumers[0].cluster:"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.startswith("meshbridge") else None,
)
def test_bad_combinations_are_refused_with_key_paths(stack: str, mutate: Mutation, path: str) -> None:
    problems = _problems(stack, mutate)
    assert any(p.startswith(path) for p in problems), problems


def test_privatelink_accepts_an_explicitly_reachable_api_server() -> None:
    raw = _raw("discovery")
    raw["mesh"]["connectivity"] = "privatelink"
    for c in raw["clusters"]:
        c.setdefault("apiServer", {})["reachable"] = True
    problems: list[str] = []
    try:
        parse_config(raw, Path(__file__).resolve().parent.parent)
    except ConfigError as err:
        problems = err.problems
    assert not [p for p in problems if "apiServer" in p], problems
