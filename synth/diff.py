"""`python -m synth.diff BASE HEAD [--title T]`: Markdown diff of two synth trees, for the PR comment.

Five sections, as a reviewer reads them: resources added / removed by URN (resources.json), the
monthly fixed cost of the private links and its change (synth/cost.py), then Kubernetes objects
(clusters/*/*.yaml), Helm releases (clusters/*/helm/*.yaml) and AWS and other
resource inputs (resources.json, per resource). Both trees are redacted already (synth never writes
a secret), so the comment can be public.

Why the URN section comes first: Pulumi identifies a resource by its URN (type chain and name), the
other sections by what it applies (a Kubernetes object by kind/namespace/name). A resource renamed
without `aliases` is deleted and created again: a replaced NLB gets a new DNS name, and under
server-side apply the Kubernetes provider deletes the object after the "new" one took it over
(pulumi/pulumi-kubernetes#2948), so the cluster ends up without it. Such a rename leaves the
object files unchanged ("no change"); only the URNs show it. Every URN of base missing from head is
listed as renamed (a head resource names it in `aliases`) or deleted, and every new URN as added.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

from synth.cost import Cost, link_costs, money, usage

MARKER = "<!-- meshbridge-synth-diff -->"
MAX_CHARS = 60000  # GitHub comments hold 65536 characters


def _files(root: Path, pattern: str, exclude_helm: bool) -> dict[str, str]:
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.glob(pattern)):
        rel = str(p.relative_to(root))
        if exclude_helm and "/helm/" in rel:
            continue
        out[rel] = p.read_text()
    return out


def _resources(root: Path) -> dict[str, str]:
    path = root / "resources.json"
    if not path.exists():
        return {}
    return {
        r["urn"].split("::", 2)[-1]: json.dumps(r["inputs"], indent=2, sort_keys=True) + "\n"
        for r in json.loads(path.read_text())
        if not r["type"].startswith("kubernetes:") and not r.get("component")
    }


def _registrations(root: Path) -> dict[str, dict[str, Any]]:
    path = root / "resources.json"
    if not path.exists():
        return {}
    return {r["urn"]: r for r in json.loads(path.read_text())}


def _alias_urns(entry: dict[str, Any]) -> list[str]:
    """The URNs a resource was known by: `aliases` entries are URNs or names (same type and parent;
    an empty name is a type alias of the provider SDK, not a rename)."""
    urns = []
    for alias in entry.get("aliases") or []:
        if alias.startswith("urn:pulumi:"):
            urns.append(alias)
        elif alias:
            urns.append(entry["urn"].rsplit("::", 1)[0] + "::" + alias)
    return urns


def _object_key(entry: dict[str, Any]) -> Optional[tuple[str, str, str, str]]:
    """(provider, kind, namespace, name) of a Kubernetes object, None for anything else."""
    inputs = entry.get("inputs") or {}
    meta = inputs.get("metadata")
    if not entry["type"].startswith("kubernetes:") or not isinstance(meta, dict) or "kind" not in inputs:
        return None
    return (str(entry.get("provider")), str(inputs["kind"]), str(meta.get("namespace") or ""), str(meta.get("name")))


def urn_section(base: Path, head: Path) -> str:
    """Resources added / removed by URN, a removal without an alias flagged (it deletes)."""
    old, new = _registrations(base), _registrations(head)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    title = "### Resources added / removed by URN"
    if not added and not removed:
        return f"{title}\n\nno change\n"
    aliased = {alias: urn for urn in added for alias in _alias_urns(new[urn])}
    objects = {key: urn for urn in added if (key := _object_key(new[urn])) is not None}
    lines, deleted, warnings = [], 0, []
    for urn in removed:
        if urn in aliased:
            lines.append(f"~ {urn}\n    renamed with an alias to {aliased[urn]}\n")
            continue
        deleted += 1
        lines.append(f"- {urn}\n")
        key = _object_key(old[urn])
        if key is not None and key in objects:
            warnings.append(
                f"- **rename without `aliases`**: the {key[1]} `{key[2] + '/' if key[2] else ''}{key[3]}` moves "
                f"from `{urn}` to `{objects[key]}`; under server-side apply Pulumi deletes the live object "
                "(pulumi/pulumi-kubernetes#2948): add `aliases` with the old name"
            )
    renamed = {aliased[urn] for urn in removed if urn in aliased}
    lines.extend(f"+ {urn}\n" for urn in added if urn not in renamed)
    counts = f"{len(added) - len(renamed)} added, {deleted} removed, {len(renamed)} renamed with an alias"
    text = f"{title} ({counts})\n\n"
    if deleted:
        text += (
            f"**{deleted} resource(s) removed without an alias: `pulumi up` deletes them.** "
            "A rename needs `aliases` with the old name.\n\n"
        )
    if warnings:
        text += "\n".join(warnings) + "\n\n"
    return text + "```diff\n" + "".join(lines) + "```\n"


def _priced(root: Path) -> Cost:
    path = root / "resources.json"
    return link_costs(json.loads(path.read_text()) if path.exists() else [])


def cost_section(base: Path, head: Path) -> str:
    """The monthly fixed cost of the private links in base and head, and what changes (synth/cost.py).
    Both trees are priced with head's table, so a change of prices alone shows no delta."""
    old, new = _priced(base), _priced(head)
    title = f"### Cost of the private links (monthly fixed, USD, {new.hours:g} h; synth/pricing-aws.yaml of {new.read})"
    delta = Decimal(str(new.total)) - Decimal(str(old.total))
    rows = []

    def row(what: str, a: Optional[dict[str, Any]], b: Optional[dict[str, Any]]) -> None:
        va = None if a is None else a["monthly"]
        vb = None if b is None else b["monthly"]
        if a == b:
            return
        change = Decimal(str(vb or 0)) - Decimal(str(va or 0))
        rows.append(f"| {what} | {_cell(a)} | {_cell(b)} | {'+' if change >= 0 else '-'}{money(float(abs(change)))} |")

    for name in sorted(set(old.producers) | set(new.producers)):
        row(f"east-west NLB of {name}", old.producers.get(name), new.producers.get(name))
    for key in sorted(set(old.pairs) | set(new.pairs)):
        row(f"interface endpoint {key}", old.pairs.get(key), new.pairs.get(key))
    sign = "+" if delta >= 0 else "-"
    text = (
        f"{title}\n\nbase {money(old.total)}, head {money(new.total)}: **{sign}{money(float(abs(delta)))} per month**\n"
    )
    if rows:
        text += "\n| link | base | head | change |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
        rates = [f"{key}: {usage(p)}" for key, p in sorted(new.pairs.items()) if key not in old.pairs]
        if rates:
            text += "\nUsage of the new links, per GB: " + "; ".join(rates) + ".\n"
    if new.missing:
        text += f"\nNo price for {', '.join(new.missing)} (not in the totals).\n"
    return text


def _cell(entry: Optional[dict[str, Any]]) -> str:
    if entry is None:
        return "-"
    if "azs" not in entry:
        where = f" ({entry['region']})"
    elif entry["azs"] is None:
        where = f" (AZs from another stack, {money(entry['perAzMonthly'])} per AZ, {entry['region']})"
    else:
        where = f" ({entry['azs']} AZ, {entry['region']})"
    fixed = "not known" if entry["monthly"] is None else money(entry["monthly"])
    return fixed + where


def _section(title: str, base: dict[str, str], head: dict[str, str]) -> str:
    chunks = []
    for name in sorted(set(base) | set(head)):
        a, b = base.get(name, ""), head.get(name, "")
        if a == b:
            continue
        diff = "".join(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                fromfile=f"base/{name}" if a else "/dev/null",
                tofile=f"head/{name}" if b else "/dev/null",
            )
        )
        chunks.append(diff)
    if not chunks:
        return f"### {title}\n\nno change\n"
    return f"### {title} ({len(chunks)} changed)\n\n```diff\n" + "".join(chunks) + "```\n"


def render(base: Path, head: Path, title: str) -> str:
    body = [
        MARKER,
        f"## {title}",
        urn_section(base, head),
        cost_section(base, head),
        _section(
            "Kubernetes objects", _files(base, "clusters/*/*.yaml", True), _files(head, "clusters/*/*.yaml", True)
        ),
        _section(
            "Helm releases",
            _files(base, "clusters/*/helm/*.yaml", False),
            _files(head, "clusters/*/helm/*.yaml", False),
        ),
        _section("AWS and other resource inputs", _resources(base), _resources(head)),
    ]
    text = "\n".join(body)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + "\n```\n\n(truncated: the full diff is in the workflow artifact)\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth.diff")
    parser.add_argument("base", type=Path)
    parser.add_argument("head", type=Path)
    parser.add_argument("--title", default="meshbridge synth diff")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.base, args.head, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
