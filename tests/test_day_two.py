"""Day two without outages (issue 26), on the real program through synth: what a consumer's imports
wait for (ready before published), what keeps an exported workload closed (no allow-all window),
which services multi-primary makes global (sameness), and rotations that create first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.engine import Registration, SynthResult, run_program
from tests.conftest import all_of, of_type, run_variant, set_at

SE = "kubernetes:networking.istio.io/v1:ServiceEntry"
DR = "kubernetes:networking.istio.io/v1:DestinationRule"
GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
LISTENER = "aws:lb/listener:Listener"


def by_name(result: SynthResult, typ: str) -> dict[str, Registration]:
    return {r.name: r for r in of_type(result, typ)}


def urn(result: SynthResult, typ: str, name: str) -> str:
    found = by_name(result, typ)
    assert name in found, sorted(found)
    return found[name].urn


# ------------------------------------------------------------------- ready before published (item 5)


def producer_side(result: SynthResult, producer: str, namespace: str, service: str, aws: bool) -> set[str]:
    """The URNs of what a producer needs before a consumer is pointed at it."""
    side = {
        urn(result, GATEWAY, f"{producer}-cross-network-gateway"),
        urn(result, AUTHZ, f"{producer}-{namespace}-{service}-authz"),
    }
    if aws:
        side |= {urn(result, TGB, f"{producer}-eastwest-tgb"), urn(result, LISTENER, f"{producer}-eastwest-listener")}
    return side


@pytest.mark.parametrize(
    ("stack", "consumer", "host", "producer", "namespace", "service", "aws"),
    [
        ("staging", "cluster-a", "backend-api.cluster-b.local", "cluster-b", "default", "backend-api", True),
        ("staging", "cluster-b", "src-hello-0.demo.svc.cluster.local", "cluster-a", "demo", "hello", True),
        ("production", "prod-usw2", "ledger.finance.mesh", "prod-use1", "finance", "ledger", True),
        ("local", "cluster-a", "backend-api.cluster-b.local", "cluster-b", "default", "backend-api", False),
    ],
)
def test_an_import_waits_for_its_producers_binding_gateway_host_and_policy(
    stack: str, consumer: str, host: str, producer: str, namespace: str, service: str, aws: bool
) -> None:
    result = run_program(stack)
    assert result.ok, result.errors
    side = producer_side(result, producer, namespace, service, aws)
    for typ, kind in ((SE, "se"), (DR, "dr")):
        reg = by_name(result, typ)[f"{consumer}-{kind}-{host}"]
        assert side <= set(reg.dependencies), sorted(side - set(reg.dependencies))


def test_a_moved_export_is_published_only_once_the_new_producer_serves(tmp_path: Path) -> None:
    """Step one of a move (docs/runbook.md, "Moving an export"): ledger also exported from a new
    producer (with outlier detection); prod-usw2's host waits for the new producer's side as well as
    the old one's."""
    result = run_program("production")
    assert result.ok, result.errors
    # the failover host of checkout in prod-euw1: every remote producer's side
    reg = by_name(result, SE)["prod-euw1-se-checkout.shop.mesh"]
    for producer in ("prod-use1", "prod-usw2"):
        side = producer_side(result, producer, "shop", "checkout", True)
        assert side <= set(reg.dependencies), (producer, sorted(side - set(reg.dependencies)))
    moved = run_variant(
        tmp_path,
        all_of(
            set_at(["meshbridge:services", 1, "exportedFrom"], ["prod-use1", "prod-euw1"]),
            set_at(["meshbridge:services", 1, "trafficPolicy"], {"outlierDetection": {"consecutive5xxErrors": 5}}),
        ),
        stack="production",
    )
    assert moved.ok, moved.errors
    reg = by_name(moved, SE)["prod-usw2-se-ledger.finance.mesh"]
    for producer in ("prod-use1", "prod-euw1"):
        side = producer_side(moved, producer, "finance", "ledger", True)
        assert side <= set(reg.dependencies), (producer, sorted(side - set(reg.dependencies)))
