"""The requests that reach each rule of `services[].routing` (docs/services.md, "Routing between producers").

A rule is reached by the requests its `match` accepts that no earlier rule accepts (Envoy takes the
first route that matches). `probes` builds, for every rule, one request that its first match entry
accepts (the default rule: one that no earlier rule's uri takes), and `shadowed_by` names the earlier
rule that takes it first. The configuration refuses a rule whose probe an earlier rule takes
(stacks/config/checks.py); the Istio judge sends each probe to the consumer's sidecar as pilot
configures it and checks that it reaches that rule's route (verify/, judge.json `routes`).

A probe's values are chosen so that only a match that covers the whole entry takes it: a prefix
is followed by `mbverify`, an unconstrained method is `MBVERIFY`, an unconstrained path avoids every
earlier uri.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from stacks.config.model import RouteMatchSpec, RouteRuleSpec, StringMatchSpec

# appended to a prefix, so that only a match that covers the whole prefix takes the probe
SUFFIX = "mbverify"
# a method no rule names (a rule without `method` accepts any)
ANY_METHOD = "MBVERIFY"


@dataclass(frozen=True)
class Probe:
    """An HTTP request: path, method and headers (lower case names)."""

    path: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)


def _example(m: StringMatchSpec) -> str:
    return m.exact if m.exact is not None else f"{m.prefix}{SUFFIX}"


def _accepts_value(m: StringMatchSpec, value: Optional[str]) -> bool:
    if value is None:
        return False
    return value == m.exact if m.exact is not None else value.startswith(str(m.prefix))


def accepts(m: RouteMatchSpec, probe: Probe) -> bool:
    """Whether the match entry takes the request (every key it gives must match)."""
    if m.uri is not None and not _accepts_value(m.uri, probe.path):
        return False
    if m.method is not None and m.method != probe.method:
        return False
    return all(_accepts_value(v, probe.headers.get(k)) for k, v in (m.headers or {}).items())


def _free_path(earlier: list[RouteRuleSpec]) -> str:
    """A path no earlier rule's uri takes (`/` itself is taken only by a `/` prefix or exact)."""
    uris = [m.uri for r in earlier for m in r.match or [] if m.uri is not None]
    for candidate in ("/", *(f"/{c}{SUFFIX}" for c in "~^|{}`_-.0123456789abcdefghijklmnopqrstuvwxyz")):
        if not any(_accepts_value(u, candidate) for u in uris):
            return candidate
    return "/"


def probes(rules: list[RouteRuleSpec]) -> list[Probe]:
    """One request per rule: its first match entry's example, or, for a rule without `match`, a
    request that only a rule matching every request would take first."""
    out: list[Probe] = []
    for k, rule in enumerate(rules):
        first = rule.match[0] if rule.match else None
        if first is None:
            out.append(Probe(path=_free_path(rules[:k]), method=ANY_METHOD))
            continue
        out.append(
            Probe(
                path=_example(first.uri) if first.uri is not None else _free_path(rules[:k]),
                method=first.method or ANY_METHOD,
                headers={name: _example(v) for name, v in (first.headers or {}).items()},
            )
        )
    return out


def shadowed_by(rules: list[RouteRuleSpec], k: int, probe: Probe) -> Optional[int]:
    """The first earlier rule that takes rule k's probe, if any."""
    for j, rule in enumerate(rules[:k]):
        if rule.match is None or any(accepts(m, probe) for m in rule.match):
            return j
    return None
