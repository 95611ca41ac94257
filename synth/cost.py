"""The monthly fixed cost of the private links, from what a stack registers (resources.json).

Per producer: its east-west NLB (NLB-hours in the producer's region). Per (consumer, producer) pair
in `privatelink` mode: the consumer's interface endpoint, billed per Availability Zone (its subnets)
per hour in the consumer's region. Usage is not known before traffic flows, so it is shown as rates:
NLCU-hours of each NLB, GB processed by each endpoint, and GB between regions when the pair crosses
one. Prices: `synth/pricing-aws.yaml` (source and date in it). `python -m synth` prints the lines,
writes `cost.json`, and `python -m synth.diff` shows base, head and the delta in the PR comment
(docs/architecture.md, "Cost of the private links").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any, Optional

import yaml

PRICING = Path(__file__).resolve().parent / "pricing-aws.yaml"
AWS_PROVIDER = "pulumi:providers:aws"
NLB = "aws:lb/loadBalancer:LoadBalancer"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
_REF = re.compile(r"\$\{([^.}]+)\.")


@cache
def pricing() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(PRICING.read_text())
    return doc


def inter_region_gb(a: str, b: str, table: dict[str, Any]) -> Optional[float]:
    """Per GB between two regions (None when either region has no price)."""
    if a == b:
        return 0.0
    if a not in table["regions"] or b not in table["regions"]:
        return None
    for pair in table["interRegionGb"].get("pairs", []):
        if sorted(pair["regions"]) == sorted([a, b]):
            return float(pair["perGb"])
    return float(table["interRegionGb"]["default"])


def monthly(hourly: float, hours: float, count: int = 1) -> float:
    """count x hourly x hours, in cents rounded half up (decimal arithmetic: 0.0225 x 730 is 16.43)."""
    value = Decimal(str(hourly)) * Decimal(str(hours)) * count
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class Cost:
    """The links of one rendered stack, priced."""

    hours: float
    read: str
    # producer -> {region, monthly, nlcuHour}
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "consumer -> producer" -> {consumer, producer, region, azs, monthly, endpointGb, interRegionGb}
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # regions without a price

    @property
    def total(self) -> float:
        parts = [p["monthly"] or 0 for p in (*self.producers.values(), *self.pairs.values())]
        return float(sum((Decimal(str(x)) for x in parts), Decimal(0)))

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "hoursPerMonth": self.hours,
            "pricesRead": self.read,
            "producers": self.producers,
            "pairs": self.pairs,
            "monthlyFixed": self.total,
            "regionsWithoutPrice": self.missing,
        }


def link_costs(resources: list[dict[str, Any]], table: Optional[dict[str, Any]] = None) -> Cost:
    """Price the NLBs and interface endpoints of a stack's registrations (resources.json entries)."""
    table = table or pricing()
    hours = float(table["hoursPerMonth"])
    cost = Cost(hours=hours, read=str(table["read"]))
    by_urn = {r["urn"]: r for r in resources}
    by_name = {r["name"]: r for r in resources if r.get("provider")}

    def cluster_region(r: dict[str, Any]) -> tuple[str, str]:
        # the provider reference is its URN (synth's mock engine gives no id), or `<urn>::<id>`
        ref = r.get("provider") or ""
        provider = by_urn.get(ref) or by_urn.get(ref.rsplit("::", 1)[0])
        if provider is None or provider["type"] != AWS_PROVIDER:
            return "", ""
        return provider["name"].removesuffix("-aws"), str(provider["inputs"].get("region", ""))

    def price(region: str, key: str) -> Optional[float]:
        prices = table["regions"].get(region)
        if prices is None:
            if region not in cost.missing:
                cost.missing.append(region)
            return None
        return float(prices[key])

    for r in resources:
        if r["type"] == NLB:
            producer, region = cluster_region(r)
            hour = price(region, "nlbHour")
            cost.producers[producer] = {
                "region": region,
                "monthly": None if hour is None else monthly(hour, hours),
                "nlcuHour": price(region, "nlcuHour"),
            }
    for r in resources:
        if r["type"] != ENDPOINT:
            continue
        consumer, region = cluster_region(r)
        ref = _REF.search(str(r["inputs"].get("serviceName", "")))
        service = by_name.get(ref.group(1)) if ref else None
        producer, producer_region = (
            cluster_region(service) if service else ("?", str(r["inputs"].get("serviceRegion", "")))
        )
        subnets = r["inputs"].get("subnetIds") or []
        # subnets another stack gives (`${stack:...}`) are known at `pulumi up`, not here
        azs = None if any("${" in str(x) for x in subnets) else len(subnets)
        hour = price(region, "endpointAzHour")
        cost.pairs[f"{consumer} -> {producer}"] = {
            "consumer": consumer,
            "producer": producer,
            "region": region,
            "azs": azs,
            "perAzMonthly": None if hour is None else monthly(hour, hours),
            "monthly": None if hour is None or azs is None else monthly(hour, hours, azs),
            "endpointGb": price(region, "endpointGb"),
            "interRegionGb": inter_region_gb(region, producer_region, table),
        }
    cost.missing.sort()
    return cost


def money(value: Optional[float]) -> str:
    return "no price" if value is None else f"${value:,.2f}"


def rate(value: Optional[float]) -> str:
    return "no price" if value is None else f"${value:g}"


def usage(pair: dict[str, Any]) -> str:
    """A pair's per-GB rates: data processed by its endpoint, and between regions when it crosses one."""
    cross = f" + {rate(pair['interRegionGb'])}/GB between regions" if pair["interRegionGb"] != 0 else ""
    return f"{rate(pair['endpointGb'])}/GB processed{cross}"


def summary_lines(cost: Cost) -> list[str]:
    """The cost lines of `python -m synth`'s summary."""
    if not cost.producers and not cost.pairs:
        return []
    unknown = sum(1 for p in (*cost.producers.values(), *cost.pairs.values()) if p["monthly"] is None)
    left_out = f", not counting {unknown} link(s) priced below without a total" if unknown else ""
    lines = [
        f"  private links, monthly fixed cost (USD, {cost.hours:g} h, prices of synth/pricing-aws.yaml read "
        f"{cost.read}): {money(cost.total)}{left_out}"
    ]
    for name, p in sorted(cost.producers.items()):
        lines.append(
            f"    {name}: east-west NLB in {p['region']}: {money(p['monthly'])} + {rate(p['nlcuHour'])} per NLCU-hour"
        )
    for key, p in sorted(cost.pairs.items()):
        fixed = (
            f"{p['azs']} AZ: {money(p['monthly'])}"
            if p["azs"] is not None
            else f"{money(p['perAzMonthly'])} per AZ (its subnets come from another stack: not in the total)"
        )
        lines.append(f"    {key}: interface endpoint in {p['region']}, {fixed} + {usage(p)}")
    if cost.missing:
        lines.append(f"    no price in synth/pricing-aws.yaml for {', '.join(cost.missing)}: not in the total")
    return lines
