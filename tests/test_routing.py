"""Typed routing between producer clusters (`services[].routing`, docs/services.md "Routing between
producers"): what the configuration refuses (key paths, exit 2), what the consumer gets (a
VirtualService per routed host, DestinationRule subsets by producer), and what pilot makes of it (the
Istio judge on Pulumi.routing.yaml and on faults in a copy of its tree)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.config.load import parse_config
from stacks.config.routing import probes
from synth.engine import SynthResult, run_program
from synth.render import write_tree
from tests.conftest import (
    PROJECT,
    cluster_objects,
    config_problems,
    judge_fault,
    run_judge,
    run_variant,
    stack_config,
    synth_refusal,
)

VS = "web-usw2/virtualservice.istio-system.payments.pay.svc.cluster.local.yaml"
DR = "web-usw2/destinationrule.istio-system.payments.pay.svc.cluster.local.yaml"
SE = "web-usw2/serviceentry.istio-system.payments.pay.svc.cluster.local.yaml"


def _raw(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = stack_config("routing")["config"]
    mutate(doc)
    return {k.split(":", 1)[1]: v for k, v in doc.items() if k.startswith("meshbridge:")}


def _problems(mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    return config_problems("routing", mutate)


def _routing(doc: dict[str, Any]) -> list[dict[str, Any]]:
    routing: list[dict[str, Any]] = doc["meshbridge:services"][0]["routing"]
    return routing


def _service(doc: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = doc["meshbridge:services"][0]
    return service


R = "meshbridge:services[0].routing"

# (id, mutation of Pulumi.routing.yaml, the key path and words the refusal must have)
REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "weights-not-100",
        lambda d: _routing(d)[3].update(weights={"pay-use1": 90, "pay-use2": 20}),
        f"{R}[3].weights: the weights add up to 110",
    ),
    (
        "weights-name-a-consumer",
        lambda d: _routing(d)[0].update(weights={"web-usw2": 100}),
        f"{R}[0].weights.web-usw2: 'web-usw2' does not export pay/payments",
    ),
    (
        "weights-name-an-unknown-cluster",
        lambda d: _routing(d)[0].update(weights={"pay-euw1": 100}),
        f"{R}[0].weights.pay-euw1: 'pay-euw1' does not export",
    ),
    (
        "mirror-to-a-consumer",
        lambda d: _routing(d)[3].update(mirror={"cluster": "web-usw2"}),
        f"{R}[3].mirror.cluster: 'web-usw2' does not export",
    ),
    (
        "default-rule-not-last",
        lambda d: _routing(d).insert(0, {"weights": {"pay-use1": 100}}),
        f"{R}[0]: a rule without `match` takes every request",
    ),
    ("last-rule-with-match", lambda d: _routing(d).pop(), f"{R}[2].match: the last rule must have no `match`"),
    (
        "rule-shadowed",
        lambda d: _routing(d).insert(1, {"match": [{"uri": {"prefix": "/v"}}], "weights": {"pay-use1": 100}}),
        f"{R}[2].match[0]: routing[1] takes these requests first",
    ),
    (
        "default-shadowed",
        lambda d: _routing(d).insert(0, {"match": [{"uri": {"prefix": "/"}}], "weights": {"pay-use1": 100}}),
        f"{R}[4]: routing[0] takes every request first",
    ),
    (
        "duplicate-rule-name",
        lambda d: _routing(d)[1].update(name="canary"),
        f"{R}[1].name: 'canary' names another rule too",
    ),
    (
        "tcp-port",
        lambda d: _service(d)["ports"].append({"port": 5432, "name": "pg", "protocol": "TCP"}),
        f"{R}: routes are HTTP routes; port 5432 is TCP",
    ),
    ("discovery-import", lambda d: _service(d).update(importMode="discovery"), f"{R}: needs importMode explicit"),
    ("bad-duration", lambda d: _routing(d)[0].update(timeout="3"), f"{R}[0].timeout: '3' is not a duration"),
    (
        "sub-millisecond",
        lambda d: _routing(d)[0].update(timeout="1500us"),
        f"{R}[0].timeout: '1500us': istiod takes whole milliseconds",
    ),
    (
        "unknown-retry-on",
        lambda d: _routing(d)[1]["retries"].update(retryOn="5xx,sometimes"),
        f"{R}[1].retries.retryOn: 'sometimes' is not a retry condition",
    ),
    (
        "retries-off-with-settings",
        lambda d: _routing(d)[1]["retries"].update(attempts=0),
        f"{R}[1].retries: attempts 0 turns retries off",
    ),
    (
        "upper-case-header",
        lambda d: _routing(d)[0].update(match=[{"headers": {"X-Canary": {"exact": "1"}}}]),
        f"{R}[0].match[0].headers: header name 'X-Canary'",
    ),
    (
        "exact-and-prefix",
        lambda d: _routing(d)[0].update(match=[{"uri": {"exact": "/a", "prefix": "/b"}}]),
        f"{R}[0].match[0].uri: give exactly one of exact or prefix",
    ),
    (
        "empty-match-entry",
        lambda d: _routing(d)[0].update(match=[{}]),
        f"{R}[0].match[0]: give at least one of uri, headers or method",
    ),
    (
        "relative-uri",
        lambda d: _routing(d)[0].update(match=[{"uri": {"prefix": "v2"}}]),
        f"{R}[0].match[0]: uri: 'v2' must start with '/'",
    ),
    (
        "fault-without-delay-or-abort",
        lambda d: _routing(d)[2].update(fault={}),
        f"{R}[2].fault: give a delay, an abort or both",
    ),
    (
        "abort-status-out-of-range",
        lambda d: _routing(d)[2]["fault"]["abort"].update(httpStatus=99),
        f"{R}[2].fault.abort.httpStatus",
    ),
    ("percent-over-100", lambda d: _routing(d)[3]["mirror"].update(percent=150), f"{R}[3].mirror.percent"),
    ("weight-as-text", lambda d: _routing(d)[0].update(weights={"pay-use2": "100"}), f"{R}[0].weights.pay-use2"),
    ("unknown-key", lambda d: _routing(d)[0].update(weight={"pay-use2": 100}), f"{R}[0].weight: unknown key"),
]


@pytest.mark.parametrize(("mutate", "path"), [(m, p) for _, m, p in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_routing_mistake_is_refused_with_its_key_path(mutate: Callable[[dict[str, Any]], None], path: str) -> None:
    problems = _problems(mutate)
    assert any(line.startswith(path) for line in problems), problems


def test_the_worked_example_is_accepted() -> None:
    assert _problems(lambda d: None) == []


def test_a_routing_mistake_stops_synth_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        _routing(doc)[3]["weights"] = {"pay-use1": 50, "pay-use2": 40}

    stderr = synth_refusal(tmp_path, "routing", mutate)
    assert f"{R}[3].weights: the weights add up to 90, not 100" in stderr


def test_a_distributed_virtualservice_on_a_routed_host_is_refused() -> None:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "payments-timeouts", "namespace": "istio-system"},
        "spec": {
            "hosts": ["payments.pay.svc.cluster.local"],
            "http": [{"timeout": "1s", "route": [{"destination": {"host": "payments.pay.svc.cluster.local"}}]}],
        },
    }

    def mutate(d: dict[str, Any]) -> None:
        d["meshbridge:distribute"] = [{"name": "timeouts", "clusterSelector": {"mesh": "enabled"}, "manifests": [vs]}]

    problems = _problems(mutate)
    assert any(
        line.startswith("meshbridge:distribute[0].manifests[0].spec.hosts: covers payments.pay.svc.cluster.local")
        and "IST0109" in line
        for line in problems
    ), problems
    # the same object under meshbridge's own name is refused as meshbridge's
    vs["metadata"]["name"] = "payments.pay.svc.cluster.local"
    problems = _problems(mutate)
    assert any("is the routing of payments.pay.svc.cluster.local" in line for line in problems), problems


def test_probes_reach_their_rule_and_avoid_earlier_uris() -> None:
    cfg = parse_config(_raw(lambda d: None), PROJECT)
    rules = cfg.services[0].routing
    assert rules is not None
    got = probes(rules)
    assert got[0].headers == {"x-payments-canary": "true"} and got[0].method == "MBVERIFY"
    assert got[1].path == "/v2/mbverify"  # a prefix is followed by mbverify
    assert got[2].method == "POST" and got[2].headers == {"x-payments-fault": "inject"}
    assert got[3].path == "/" and got[3].headers == {}  # no earlier rule takes `/`


# ------------------------------------------------------------------------------ what is rendered


@pytest.fixture(scope="module")
def routing() -> SynthResult:
    result = run_program("routing")
    assert result.ok, result.errors
    return result


def _obj(result: SynthResult, cluster: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in cluster_objects(result, cluster) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (cluster, kind, name)
    return found[0]


def test_the_consumer_gets_the_routes_as_a_virtualservice(routing: SynthResult) -> None:
    host = "payments.pay.svc.cluster.local"
    vs = _obj(routing, "web-usw2", "VirtualService", host)
    assert vs["metadata"]["namespace"] == "istio-system" and vs["spec"]["hosts"] == [host]
    http = vs["spec"]["http"]
    assert [r["name"] for r in http] == ["canary", "v2-api", "chaos", "migration"]
    assert http[0]["match"] == [{"headers": {"x-payments-canary": {"exact": "true"}}}]
    assert http[0]["route"] == [{"destination": {"host": host, "subset": "pay-use2"}, "weight": 100}]
    assert http[2]["match"][0]["method"] == {"exact": "POST"}
    assert http[2]["fault"]["abort"] == {"httpStatus": 503, "percentage": {"value": 5}}
    last = http[3]
    assert "match" not in last
    assert [(d["destination"]["subset"], d["weight"]) for d in last["route"]] == [("pay-use1", 90), ("pay-use2", 10)]
    assert last["mirror"] == {"host": host, "subset": "pay-use2"} and last["mirrorPercentage"] == {"value": 5}
    assert last["retries"] == {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure,reset"}
    # no VirtualService in the producers: routes are the consumer's
    for producer in ("pay-use1", "pay-use2"):
        assert not [o for o in cluster_objects(routing, producer) if o["kind"] == "VirtualService"]


def test_the_outputs_give_each_routed_hosts_rules_and_weights(routing: SynthResult) -> None:
    web = routing.outputs["clusters"]["web-usw2"]
    assert web["routedHosts"] == {
        "payments.pay.svc.cluster.local": [
            {"name": "canary", "weights": {"pay-use2": 100}},
            {"name": "v2-api", "weights": {"pay-use2": 100}},
            {"name": "chaos", "weights": {"pay-use1": 90, "pay-use2": 10}},
            {"name": "migration", "weights": {"pay-use1": 90, "pay-use2": 10}},
        ]
    }
    assert web["importedHosts"] == {"payments.pay.svc.cluster.local": ["pay-use1", "pay-use2"]}
    # a cluster without a routed import has no routedHosts key (outputs never carry nulls)
    assert "routedHosts" not in routing.outputs["clusters"]["pay-use1"]


def test_subsets_select_each_producers_endpoint(routing: SynthResult) -> None:
    host = "payments.pay.svc.cluster.local"
    dr = _obj(routing, "web-usw2", "DestinationRule", host)
    assert dr["spec"]["subsets"] == [
        {"name": "pay-use1", "labels": {"meshbridge.io/producer": "pay-use1"}},
        {"name": "pay-use2", "labels": {"meshbridge.io/producer": "pay-use2"}},
    ]
    se = _obj(routing, "web-usw2", "ServiceEntry", host)
    assert [e["labels"]["meshbridge.io/producer"] for e in se["spec"]["endpoints"]] == ["pay-use1", "pay-use2"]


def test_the_virtualservice_waits_for_the_subsets_it_names(routing: SynthResult) -> None:
    regs = {r.name: r for r in routing.registrations}
    vs = regs["web-usw2-vs-payments.pay.svc.cluster.local"]
    deps = set(vs.dependencies)
    assert regs["web-usw2-dr-payments.pay.svc.cluster.local"].urn in deps
    assert regs["web-usw2-se-payments.pay.svc.cluster.local"].urn in deps


def test_a_single_producer_routes_to_the_host_without_subsets(tmp_path: Path) -> None:
    """With one producer the host is that producer: no subsets, no producer label (nothing changes
    when routing is added or removed but the VirtualService)."""

    def mutate(c: dict[str, Any]) -> None:
        backend = c["meshbridge:services"][0]
        backend["routing"] = [
            {
                "name": "slow-report",
                "match": [{"uri": {"prefix": "/report"}}],
                "weights": {"cluster-b": 100},
                "timeout": "30s",
            },
            {"weights": {"cluster-b": 100}, "timeout": "5s"},
        ]
        c["meshbridge:distribute"] = [d for d in c["meshbridge:distribute"] if d["name"] != "api-routing"]

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    host = "backend-api.cluster-b.local"
    vs = _obj(result, "cluster-a", "VirtualService", host)
    assert [r["route"] for r in vs["spec"]["http"]] == [[{"destination": {"host": host}, "weight": 100}]] * 2
    dr = _obj(result, "cluster-a", "DestinationRule", host)
    assert "subsets" not in dr["spec"]
    se = _obj(result, "cluster-a", "ServiceEntry", host)
    assert "meshbridge.io/producer" not in se["spec"]["endpoints"][0]["labels"]


# ------------------------------------------------------------------------------ judged by pilot


@pytest.fixture(scope="module")
def routing_tree(tmp_path_factory: pytest.TempPathFactory, routing: SynthResult, judge: Path) -> Path:
    out = tmp_path_factory.mktemp("routing") / "tree"
    write_tree(routing, out)
    return out


def test_pilot_computes_every_rule_as_configured(judge: Path, routing_tree: Path) -> None:
    proc = run_judge(judge, routing_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 4 rules x 2 ports x 1 caller
    assert (
        "istio judge: 4 of 4 declared paths computed by pilot as declared; 8 routing rules, 0 problems" in proc.stdout
    )


def _swap_weights(obj: dict[str, Any]) -> None:
    obj["spec"]["http"][3]["route"][0]["weight"], obj["spec"]["http"][3]["route"][1]["weight"] = 10, 90


def _topology_label(obj: dict[str, Any]) -> None:
    # the label a reader might expect: pilot overwrites it on ServiceEntry endpoints with the consumer's cluster
    for s in obj["spec"]["subsets"]:
        s["labels"] = {"topology.istio.io/cluster": s["name"]}


def _default_first(obj: dict[str, Any]) -> None:
    obj["spec"]["http"].insert(0, obj["spec"]["http"].pop())


def _no_mirror(obj: dict[str, Any]) -> None:
    del obj["spec"]["http"][3]["mirror"]
    del obj["spec"]["http"][3]["mirrorPercentage"]


def _pilot_sni(obj: dict[str, Any]) -> None:
    # without the explicit SNI a subset's cluster sends outbound_.<port>_.<subset>_.<host>, which
    # the producer's gateway does not route (found by the judge when subsets were first rendered)
    for level in obj["spec"]["trafficPolicy"]["portLevelSettings"]:
        level["tls"] = {"mode": "ISTIO_MUTUAL"}


FAULTS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "subset-sni-left-to-pilot": (
        DR,
        _pilot_sni,
        "subset pay-use1: cluster outbound|8080|pay-use1|payments.pay.svc.cluster.local does not originate "
        "Istio mTLS with SNI",
    ),
    "weights-swapped": (
        VS,
        _swap_weights,
        "route migration: pilot sends the traffic to outbound|8080|pay-use1|payments.pay.svc.cluster.local=10",
    ),
    "subsets-by-topology-label": (
        DR,
        _topology_label,
        "route migration: routes to cluster outbound|8080|pay-use1|payments.pay.svc.cluster.local, "
        "which pilot did not build",
    ),
    "default-rule-first": (
        VS,
        _default_first,
        'route canary: the request MBVERIFY / map[x-payments-canary:true] is taken by route "migration" first',
    ),
    "mirror-dropped": (
        VS,
        _no_mirror,
        "route migration: mirrors to [], configured outbound|8080|pay-use2|payments.pay.svc.cluster.local",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_routing_fault_is_caught_by_pilot_and_names_the_route(
    fault: str,
    judge: Path,
    routing_tree: Path,
    tmp_path: Path,
) -> None:
    rel, change, expected = FAULTS[fault]
    out = judge_fault(judge, routing_tree, tmp_path, rel, change)
    assert expected in out, out
    assert "web-usw2 -> payments.pay.svc.cluster.local" in out
