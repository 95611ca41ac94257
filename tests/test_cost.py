"""The cost of the private links (synth/cost.py): the arithmetic by hand on the routing stack, the
lines synth prints, cost.json, and the delta in the pull request's synth diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synth.cost import inter_region_gb, link_costs, monthly, pricing, summary_lines
from synth.diff import cost_section, render
from synth.engine import SynthResult, run_program
from synth.render import resource_entry, write_tree
from tests.conftest import run_variant


@pytest.fixture(scope="module")
def routing() -> SynthResult:
    result = run_program("routing")
    assert result.ok, result.errors
    return result


def test_the_pricing_table_names_its_sources_and_date() -> None:
    table = pricing()
    assert table["hoursPerMonth"] == 730 and table["read"] == "2026-12-07"
    assert set(table["sources"]) == {"nlbHour", "nlcuHour", "endpointAzHour", "endpointGb", "interRegionGb"}
    for prices in table["regions"].values():
        assert set(prices) == {"nlbHour", "nlcuHour", "endpointAzHour", "endpointGb"}


def test_monthly_figures_are_rounded_half_up_in_cents() -> None:
    # 0.0225 x 730 = 16.425 exactly: half up gives 16.43 (binary floats would give 16.42)
    assert monthly(0.0225, 730) == 16.43
    assert monthly(0.011, 730, 2) == 16.06
    assert monthly(0.01, 730, 3) == 21.90


def test_the_routing_stack_by_hand(routing: SynthResult) -> None:
    """Two producers (us-east-1, us-east-2), one consumer in us-west-2 with 2 subnets:
    NLBs 2 x 0.0225 x 730 = 2 x 16.43; endpoints 2 x (2 AZ x 0.01 x 730) = 2 x 14.60; 62.06 in all."""
    cost = link_costs([resource_entry(r) for r in routing.registrations])
    assert {k: (v["region"], v["monthly"], v["nlcuHour"]) for k, v in cost.producers.items()} == {
        "pay-use1": ("us-east-1", 16.43, 0.006),
        "pay-use2": ("us-east-2", 16.43, 0.006),
    }
    assert {
        k: (v["region"], v["azs"], v["monthly"], v["endpointGb"], v["interRegionGb"]) for k, v in cost.pairs.items()
    } == {
        "web-usw2 -> pay-use1": ("us-west-2", 2, 14.60, 0.01, 0.02),
        "web-usw2 -> pay-use2": ("us-west-2", 2, 14.60, 0.01, 0.02),
    }
    assert cost.total == 62.06 and cost.missing == []
    lines = summary_lines(cost)
    assert "read 2026-12-07): $62.06" in lines[0]
    assert "    pay-use1: east-west NLB in us-east-1: $16.43 + $0.006 per NLCU-hour" in lines
    assert (
        "    web-usw2 -> pay-use2: interface endpoint in us-west-2, 2 AZ: $14.60 + $0.01/GB processed "
        "+ $0.02/GB between regions" in lines
    )


def test_regions_without_a_price_are_named_never_guessed() -> None:
    table: dict[str, Any] = json.loads(json.dumps(pricing()))
    del table["regions"]["us-east-2"]
    assert inter_region_gb("us-east-1", "us-east-2", table) is None
    assert inter_region_gb("us-east-1", "us-west-2", table) == 0.02
    assert inter_region_gb("us-west-2", "us-west-2", table) == 0.0
    result = run_program("routing")
    cost = link_costs([resource_entry(r) for r in result.registrations], table)
    assert cost.missing == ["us-east-2"] and cost.producers["pay-use2"]["monthly"] is None
    assert cost.total == 45.63  # 16.43 + 2 x 14.60
    lines = summary_lines(cost)
    assert lines[-1] == "    no price in synth/pricing-aws.yaml for us-east-2: not in the total"
    assert (
        "web-usw2 -> pay-use2: interface endpoint in us-west-2, 2 AZ: $14.60 + $0.01/GB processed "
        "+ no price/GB between regions" in "\n".join(lines)
    )


def test_synth_prints_the_cost_and_writes_cost_json(routing: SynthResult, tmp_path: Path) -> None:
    write_tree(routing, tmp_path / "t")
    doc = json.loads((tmp_path / "t" / "cost.json").read_text())
    assert doc["monthlyFixed"] == 62.06 and doc["pricesRead"] == "2026-12-07"
    assert "private links, monthly fixed cost" in (tmp_path / "t" / "summary.txt").read_text()


def test_subnets_from_another_stack_are_priced_per_az_outside_the_total(staging: SynthResult) -> None:
    cost = link_costs([resource_entry(r) for r in staging.registrations])
    pair = cost.pairs["cluster-b -> cluster-a"]  # cluster-b's subnets come from its infraStack
    assert pair["azs"] is None and pair["monthly"] is None and pair["perAzMonthly"] == 7.30
    assert cost.total == 47.46  # 16.43 + 16.43 + 14.60
    assert "not counting 1 link(s)" in summary_lines(cost)[0]


def _add_consumer(c: dict[str, Any]) -> None:
    c["meshbridge:mesh"]["allowedAccounts"].append("123400000004")
    c["meshbridge:clusters"].append(
        {
            "name": "web-euw1",
            "network": "net-web-euw1",
            "region": "eu-west-1",
            "zone": "eu-west-1a",
            "accountId": "123400000004",
            "labels": {"mesh": "enabled"},
            "kubernetes": {"context": "web-euw1"},
            "vpc": {
                "id": "vpc-0ab0000000000a001",
                "cidr": "10.80.0.0/16",
                "subnetIds": ["subnet-0ab0000000000a011", "subnet-0ab0000000000a012"],
            },
            "aws": {"assumeRoleArn": "arn:aws:iam::123400000004:role/mesh-deployer"},
        }
    )
    c["meshbridge:services"][0]["consumers"].append({"cluster": "web-euw1", "principals": ["web/storefront"]})


def test_the_pr_diff_shows_what_a_new_consumer_adds_to_the_bill(routing: SynthResult, tmp_path: Path) -> None:
    """A consumer in eu-west-1 with 2 subnets adds an endpoint to each producer there:
    2 x (2 AZ x 0.011 x 730) = 2 x 16.06 = +32.12 a month; the NLBs stay."""
    head = run_variant(tmp_path, _add_consumer, "routing")
    assert head.ok, head.errors
    write_tree(routing, tmp_path / "base")
    write_tree(head, tmp_path / "head")
    section = cost_section(tmp_path / "base", tmp_path / "head")
    assert "base $62.06, head $94.18: **+$32.12 per month**" in section
    assert "| interface endpoint web-euw1 -> pay-use1 | - | $16.06 (2 AZ, eu-west-1) | +$16.06 |" in section
    assert "NLB" not in section.split("| link |")[1]  # the producers' NLBs do not change
    assert "web-euw1 -> pay-use2: $0.01/GB processed + $0.02/GB between regions" in section
    assert section in render(tmp_path / "base", tmp_path / "head", "synth diff: routing")
    # no change: said so, with the total
    same = cost_section(tmp_path / "base", tmp_path / "base")
    assert "base $62.06, head $62.06: **+$0.00 per month**" in same and "| link |" not in same
