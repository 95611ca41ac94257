"""The static reachability check (synth/check.py): passes on the stack files, and each broken link
of the traffic path is reported with the object that breaks it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from synth.__main__ import main as synth_main
from synth.check import PathResult, check_paths, extract_objects, format_report
from synth.engine import SynthResult, run_program
from tests.conftest import run_variant, stack_config, stacks

Objects = dict[str, dict[str, dict[str, Any]]]


def edited(result: SynthResult, edit: Callable[[Objects], None]) -> list[PathResult]:
    """Run the check on an edited copy of the synthesized objects."""
    objects = copy.deepcopy(extract_objects(result))
    edit(objects)
    return check_paths(result, objects=objects)


def obj(objects: Objects, cluster: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects[cluster].values() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (cluster, kind, name)
    return found[0]


def by_host(results: list[PathResult]) -> dict[tuple[str, str, int, str], PathResult]:
    return {(r.consumer, r.host, r.port, r.producer): r for r in results}


def only_broken(results: list[PathResult]) -> list[PathResult]:
    return [r for r in results if not r.ok]


# ------------------------------------------------------------------------------ passing


def test_staging_every_declared_path_is_ok(staging: SynthResult) -> None:
    results = check_paths(staging)
    assert [r.line() for r in results if not r.ok] == []
    paths = {(r.consumer, r.host, r.port, r.producer) for r in results}
    assert paths == {
        ("cluster-a", "backend-api.cluster-b.local", 8080, "cluster-b"),
        # per-pod services import their service host only under an alias
        ("cluster-b", "hello.cluster-a.local", 8080, "cluster-a"),
        *{("cluster-b", f"src-hello-{i}.demo.svc.cluster.local", 8080, "cluster-a") for i in range(3)},
        *{("cluster-b", f"src-db-pxc-{i}.pxc.svc.cluster.local", 3306, "cluster-a") for i in range(3)},
    }


@pytest.mark.parametrize("stack", stacks())
def test_check_passes_on_every_stack_file(stack: str) -> None:
    result = run_program(stack)
    assert result.ok, result.errors
    results = check_paths(result)
    assert results
    assert [r.line() for r in results if not r.ok] == []


def test_production_failover_paths_with_an_alias(tmp_path) -> None:
    """Every producer of checkout (two remote gateways + the local Service) from every region."""

    def mutate(config: dict[str, Any]) -> None:
        checkout = next(s for s in config["meshbridge:services"] if s["name"] == "checkout")
        checkout.setdefault("alias", "checkout.shop.mesh")

    result = run_variant(tmp_path, mutate, stack="production")
    assert result.ok, result.errors
    results = check_paths(result)
    assert only_broken(results) == []
    checkout = [r for r in results if r.service == "checkout"]
    assert len(checkout) == 3 * 2 * 3  # consumers x ports x producers (2 remote + local)
    assert sum(1 for r in checkout if r.local) == 6


def test_shadowed_import_is_reported(production: SynthResult) -> None:
    """A consumer that runs the service itself keeps its own Kubernetes Service for the real FQDN
    (Istio drops a ServiceEntry of the same host), so without an alias the remote producers of a
    multi-producer service are never used; the local path still works. The config refuses this
    (test_config), so the check is fed objects and a config built as if it had not."""
    from synth.check import result_config

    cfg = result_config(production)
    no_alias = [s.model_copy(update={"alias": None}) if s.name == "checkout" else s for s in cfg.services]
    cfg = cfg.model_copy(update={"services": no_alias})
    objects = yaml.safe_load(
        yaml.safe_dump(extract_objects(production)).replace("checkout.shop.mesh", "checkout.shop.svc.cluster.local")
    )
    results = [r for r in check_paths(production, objects=objects, config=cfg) if r.service == "checkout"]
    broken = only_broken(results)
    assert {(r.consumer, r.producer) for r in broken} == {
        (c, p)
        for c in ("prod-use1", "prod-usw2", "prod-euw1")
        for p in ("prod-use1", "prod-usw2", "prod-euw1")
        if c != p
    }
    for r in broken:
        assert r.link == f"ServiceEntry istio-system/checkout.shop.svc.cluster.local in {r.consumer}"
        assert "shadowed" in r.reason
    assert all(r.ok for r in results if r.local)


def test_report_has_one_line_per_path(staging: SynthResult) -> None:
    results = check_paths(staging)
    lines = format_report(results).splitlines()
    assert len(lines) == len(results) + 1
    assert lines[0] == "OK    cluster-a -> backend-api.cluster-b.local:8080 -> cluster-b"
    assert lines[-1] == f"reachability: {len(results)} paths, 0 broken"


# ------------------------------------------------------------------------------ broken links


def test_alias_without_sni_override(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        dr = obj(objects, "cluster-a", "DestinationRule", "backend-api.cluster-b.local")
        del dr["spec"]["trafficPolicy"]["tls"]["sni"]

    results = edited(staging, edit)
    (broken,) = only_broken(results)
    assert broken.host == "backend-api.cluster-b.local"
    assert broken.link == "DestinationRule istio-system/backend-api.cluster-b.local in cluster-a"
    assert "SNI outbound_.8080_._.backend-api.cluster-b.local" in broken.reason
    assert "outbound_.8080_._.backend-api.default.svc.cluster.local" in broken.reason
    assert broken.line().startswith("FAIL  cluster-a -> backend-api.cluster-b.local:8080 -> cluster-b: DestinationRule")


def test_per_pod_alias_without_sni_override(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        del obj(objects, "cluster-b", "DestinationRule", "src-db-pxc-1.pxc.svc.cluster.local")["spec"]["trafficPolicy"]

    (broken,) = only_broken(edited(staging, edit))
    assert broken.host == "src-db-pxc-1.pxc.svc.cluster.local"
    assert broken.link == "DestinationRule istio-system/src-db-pxc-1.pxc.svc.cluster.local in cluster-b"


def test_missing_destination_rule_breaks_only_aliases(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        for name in ("src-hello-0.demo.svc.cluster.local", "hello.demo.svc.cluster.local"):
            objects["cluster-b"] = {
                k: o
                for k, o in objects["cluster-b"].items()
                if not (o["kind"] == "DestinationRule" and o["metadata"]["name"] == name)
            }

    (broken,) = only_broken(edited(staging, edit))  # hello.demo... keeps its default SNI (auto mTLS)
    assert broken.host == "src-hello-0.demo.svc.cluster.local"
    assert broken.link == "no DestinationRule for src-hello-0.demo.svc.cluster.local in cluster-b"


def test_wrong_endpoint_port(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        se = obj(objects, "cluster-a", "ServiceEntry", "backend-api.cluster-b.local")
        se["spec"]["endpoints"][0]["ports"]["http"] = 8080

    (broken,) = only_broken(edited(staging, edit))
    assert broken.link == "ServiceEntry istio-system/backend-api.cluster-b.local in cluster-a"
    assert "sends port http to 8080, expected 15443" in broken.reason


def test_endpoint_not_the_gateway_address(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        se = obj(objects, "cluster-b", "ServiceEntry", "src-hello-2.demo.svc.cluster.local")
        se["spec"]["endpoints"][0]["address"] = "${cluster-a-eastwest-nlb.dnsName}"  # the producer NLB

    (broken,) = only_broken(edited(staging, edit))
    assert broken.host == "src-hello-2.demo.svc.cluster.local"
    assert broken.link == "ServiceEntry istio-system/src-hello-2.demo.svc.cluster.local in cluster-b"
    assert "no endpoint with the gateway address of cluster-a" in broken.reason


def test_endpoint_without_mtls_label(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        se = obj(objects, "cluster-b", "ServiceEntry", "src-db-pxc-0.pxc.svc.cluster.local")
        se["spec"]["endpoints"][0]["labels"] = {}

    (broken,) = only_broken(edited(staging, edit))
    assert "security.istio.io/tlsMode" in broken.reason


def test_host_missing_from_the_gateway(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        gw = obj(objects, "cluster-a", "Gateway", "cross-network-gateway")
        gw["spec"]["servers"][0]["hosts"].remove("hello-1.demo.svc.cluster.local")

    (broken,) = only_broken(edited(staging, edit))
    assert broken.host == "src-hello-1.demo.svc.cluster.local"
    assert broken.link == "Gateway istio-system/cross-network-gateway in cluster-a"
    assert "do not include hello-1.demo.svc.cluster.local" in broken.reason


def test_gateway_not_auto_passthrough(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        obj(objects, "cluster-b", "Gateway", "cross-network-gateway")["spec"]["servers"][0]["tls"]["mode"] = (
            "PASSTHROUGH"
        )

    (broken,) = only_broken(edited(staging, edit))
    assert broken.link == "Gateway in cluster-b"


def test_per_pod_service_missing(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        objects["cluster-a"] = {
            k: o
            for k, o in objects["cluster-a"].items()
            if o["metadata"]["name"] != "db-pxc-2" or o["kind"] != "Service"
        }

    (broken,) = only_broken(edited(staging, edit))
    assert broken.host == "src-db-pxc-2.pxc.svc.cluster.local"
    assert broken.link == "Service pxc/db-pxc-2 in cluster-a"


def test_principal_not_allowed(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        policy = obj(objects, "cluster-b", "AuthorizationPolicy", "meshbridge-export-backend-api")
        policy["spec"]["rules"][0]["from"][0]["source"]["principals"] = ["cluster.local/ns/default/sa/someone-else"]

    (broken,) = only_broken(edited(staging, edit))
    assert broken.host == "backend-api.cluster-b.local"
    assert broken.link == "AuthorizationPolicy default/meshbridge-export-backend-api in cluster-b"
    assert "cluster.local/ns/default/sa/frontend" in broken.reason


def test_http_rule_does_not_admit_tcp(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        policy = obj(objects, "cluster-a", "AuthorizationPolicy", "meshbridge-export-db-pxc")
        for rule in policy["spec"]["rules"]:  # the consumer rule and the local (namespace pxc) rule
            rule["to"] = [{"operation": {"methods": ["GET"]}}]

    broken = only_broken(edited(staging, edit))
    assert {r.host for r in broken} == {f"src-db-pxc-{i}.pxc.svc.cluster.local" for i in range(3)}
    assert all(r.link.startswith("AuthorizationPolicy pxc/meshbridge-export-db-pxc in cluster-a") for r in broken)


def test_deny_policy_is_reported(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        objects["cluster-a"]["deny.yaml"] = {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "deny-remote", "namespace": "demo"},
            "spec": {
                "action": "DENY",
                "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/demo/sa/client"]}}]}],
            },
        }

    broken = only_broken(edited(staging, edit))
    assert len(broken) == 4  # hello and its three pods
    assert all(r.link == "AuthorizationPolicy demo/deny-remote in cluster-a" for r in broken)


def test_different_roots(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        secret = obj(objects, "cluster-b", "Secret", "cacerts")
        secret["stringData"]["root-cert.pem"] = "-----BEGIN CERTIFICATE-----\nother\n-----END CERTIFICATE-----\n"

    broken = only_broken(edited(staging, edit))
    assert len(broken) == 8  # every path crosses between cluster-a and cluster-b
    for r in broken:
        other = r.producer
        assert r.link == f"Secret istio-system/cacerts in {other}"
        assert "root-cert.pem differs" in r.reason


def test_missing_gateway_address_output(staging: SynthResult) -> None:
    outputs = copy.deepcopy(staging.outputs)
    del outputs["clusters"]["cluster-a"]["gatewayAddresses"]["cluster-b"]
    (broken,) = only_broken(check_paths(staging, outputs=outputs))
    assert broken.link == "stack output clusters.cluster-a.gatewayAddresses.cluster-b"


def test_check_reads_the_objects_not_the_config(staging: SynthResult) -> None:
    def edit(objects: Objects) -> None:
        objects["cluster-b"] = {k: o for k, o in objects["cluster-b"].items() if o["kind"] != "ServiceEntry"}

    broken = only_broken(edited(staging, edit))
    assert len(broken) == 7
    assert all(r.link == f"ServiceEntry for {r.host} in cluster-b" for r in broken)


# ------------------------------------------------------------------------------ CLI


def test_cli_exits_non_zero_on_a_broken_path(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid configuration whose objects break a path: a distributed DENY policy."""
    doc = stack_config("staging")
    doc["config"]["meshbridge:distribute"].append(
        {
            "name": "lockdown",
            "clusterSelector": {"mesh": "enabled"},
            "manifests": [
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "AuthorizationPolicy",
                    "metadata": {"name": "deny-frontend", "namespace": "default"},
                    "spec": {
                        "action": "DENY",
                        "selector": {"matchLabels": {"app": "backend-api"}},
                        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/frontend"]}}]}],
                    },
                }
            ],
        }
    )
    config = tmp_path / "Pulumi.staging.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert (
        synth_main(["--stack", "staging", "--config-file", str(config), "--out", str(tmp_path / "out"), "--check"]) == 1
    )
    out = capsys.readouterr().out
    assert (
        "FAIL  cluster-a -> backend-api.cluster-b.local:8080 -> cluster-b: "
        "AuthorizationPolicy default/deny-frontend in cluster-b: DENY rule matches cluster.local/ns/default/sa/frontend"
    ) in out
    assert "reachability: 8 paths, 1 broken" in out

    assert synth_main(["--stack", "staging", "--out", str(tmp_path / "ok"), "--check"]) == 0
