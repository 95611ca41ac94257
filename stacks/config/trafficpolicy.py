"""Istio objects in the configuration, checked as Istio would check them.

`services[].trafficPolicy` and every distributed object of an `*.istio.io` kind are validated against
the pinned Istio CRD schemas; a trafficPolicy, in two layers, both before any resource is registered:

1. the schema of `DestinationRule.spec.trafficPolicy` (networking.istio.io/v1) from the pinned Istio
   CRDs, strict: unknown fields, wrong types (a string where an object belongs, `true` or `5.0`
   for an integer), values outside an enum (`simple: FASTEST`), bounds, NaN/Infinity, and the
   CRD's CEL rule on durations (`duration(self) >= duration('1ms')`);
2. the checks istiod's validation webhook makes in Go (pkg/config/validation): non-negative limits,
   percentages 0-100, durations of whole milliseconds, a connection pool with `tcp` or `http`,
   consistent-hash and locality settings, warmup, a port-level entry with a port and a setting.

The schema is not read from ../shared at run time: `stacks/config/schemas/destinationrule-v1-trafficpolicy.json`
is extracted from the pinned `istio/1.30.3/crd-all.gen.yaml` by
`python -m stacks.config.trafficpolicy --write` (`make istio-schemas`) and committed, so `pulumi up`
needs nothing beside the repository; tests/test_config_strict.py regenerates it from the pinned CRD
and fails when the two differ. A missing or damaged schema file is a clear error, never a skip.

`problems(policy)` returns (key path inside trafficPolicy, message) pairs; stacks/config/strict.py adds
meshbridge's own rules (ports of the service, `tls`/`tunnel`/`proxyProtocol` refused).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, Optional

from stacks.config.problems import show

ISTIO_VERSION = "1.30.3"
CRD_FILE = f"istio/{ISTIO_VERSION}/crd-all.gen.yaml"
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / f"istio-{ISTIO_VERSION}-crds.json"
DURATION = "x-meshbridge-duration"  # {"minMs": n}: a Go duration string of whole ms, at least n ms
INT32_MAX = 2**31 - 1
MAX_NANOS = 2**63 - 1  # Go's time.Duration
# Duration fields without a CEL rule in the CRD that istiod parses as google.protobuf.Duration;
# `0s` is meaningful there (no idle timeout, a session cookie)
ZERO_OK_DURATIONS = {("connectionPool", "tcp", "idleTimeout"), ("loadBalancer", "consistentHash", "httpCookie", "ttl")}
_KNOWN_KEYWORDS = {
    "minLength",
    "pattern",
    "minItems",
    "maxProperties",
    "minProperties",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "type",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "enum",
    "minimum",
    "maximum",
    "maxItems",
    "maxLength",
    "format",
    "nullable",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    DURATION,
}
_DURATION_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|ms|s|m|h)", re.ASCII)
_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}

Loc = tuple[Any, ...]


class SchemaUnavailableError(RuntimeError):
    """The committed schema file is missing or damaged (a broken checkout, not a config mistake)."""


# ------------------------------------------------------------------------ building the schema


def _shared_dir() -> Path:
    """../shared beside the project (CI), or MESHBRIDGE_SHARED (a `make schemas` download)."""
    env = os.environ.get("MESHBRIDGE_SHARED")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"


# CEL rules of the CRDs that are evaluated here; the others (cross-field rules on other kinds) are
# left to the API server (documented in docs/configuration.md)
_PORT_RULE = "0 < self && self <= 65535"


def _convert(node: Any, loc: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_convert(x, loc) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "x-kubernetes-validations", "default", "example"):
            continue
        if key == "properties":
            out[key] = {name: _convert(s, (*loc, name)) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, loc)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [_convert(s, loc) for s in value]
        else:
            out[key] = value
    for rule in node.get("x-kubernetes-validations") or []:
        if rule.get("rule") == "duration(self) >= duration('1ms')":
            out[DURATION] = {"minMs": 1}
        elif rule.get("rule") == _PORT_RULE:
            out["minimum"], out["maximum"] = max(out.get("minimum", 1), 1), min(out.get("maximum", 65535), 65535)
    tail = tuple(x for x in loc if x != "portLevelSettings")
    if node.get("type") == "string" and any(tail[-len(t) :] == t for t in ZERO_OK_DURATIONS):
        out[DURATION] = {"minMs": 0}
    return out


def build_schema(crd_path: Path) -> dict[str, Any]:
    """The committed document: every served version of every Istio CRD in `crd_path`, without
    descriptions, identical schemas stored once."""
    import yaml

    data = crd_path.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    kinds: dict[str, str] = {}
    schemas: dict[str, Any] = {}
    for doc in yaml.load_all(data.decode("utf-8"), Loader=loader):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for ver in spec["versions"]:
            if not ver.get("served", True):
                continue
            root = dict(ver["schema"]["openAPIV3Schema"])
            props = {
                k: v
                for k, v in (root.get("properties") or {}).items()
                if k not in ("apiVersion", "kind", "metadata", "status")
            }
            converted = _convert({**root, "properties": props}, ())
            text = json.dumps(converted, sort_keys=True)
            ident = hashlib.sha256(text.encode()).hexdigest()[:12]
            schemas.setdefault(ident, converted)
            kinds[f"{spec['group']}/{ver['name']}/{spec['names']['kind']}"] = ident
    if "networking.istio.io/v1/DestinationRule" not in kinds:
        raise ValueError(f"{crd_path}: no DestinationRule v1 in the CRDs")
    return {
        "source": CRD_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "generator": "python -m stacks.config.trafficpolicy --write (make istio-schemas)",
        "kinds": dict(sorted(kinds.items())),
        "schemas": dict(sorted(schemas.items())),
    }


def render_schema(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _check_keywords(node: Any, where: str = "trafficPolicy") -> None:
    if isinstance(node, dict):
        unknown = set(node) - _KNOWN_KEYWORDS
        if unknown:
            raise SchemaUnavailableError(f"{SCHEMA_FILE}: {where}: schema keyword(s) {sorted(unknown)} not implemented")
        for name, sub in (node.get("properties") or {}).items():
            _check_keywords(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                _check_keywords(node[key], where)
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in node.get(key) or []:
                _check_keywords(sub, where)


@cache
def _document() -> dict[str, Any]:
    try:
        doc = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        for ident in doc["kinds"].values():
            doc["schemas"][ident]  # every kind has its schema (KeyError otherwise)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SchemaUnavailableError(
            f"{SCHEMA_FILE} is missing or damaged ({exc}); it is part of the repository: restore it "
            f"(git checkout) or regenerate it with `make istio-schemas` from the pinned {CRD_FILE}"
        ) from None
    for sch in doc["schemas"].values():
        _check_keywords(sch)
    return doc  # type: ignore[no-any-return]


def kind_schema(group: str, version: str, kind: str) -> Optional[dict[str, Any]]:
    """The schema of an Istio kind (without apiVersion/kind/metadata/status), None when the pinned
    CRDs do not serve it."""
    doc = _document()
    ident = doc["kinds"].get(f"{group}/{version}/{kind}")
    return None if ident is None else doc["schemas"][ident]  # type: ignore[no-any-return]


def schema() -> dict[str, Any]:
    """The trafficPolicy schema of DestinationRule v1; SchemaUnavailableError when missing or damaged."""
    dr = kind_schema("networking.istio.io", "v1", "DestinationRule")
    assert dr is not None
    return dr["properties"]["spec"]["properties"]["trafficPolicy"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the validator


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def duration_nanos(text: str) -> Optional[int]:
    """Nanoseconds of a Go duration string (`10s`, `1m30s`, `0.5s`), None when not one."""
    if len(text) > 64 or not text:
        return None
    pos, total = 0, Fraction(0)
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            return None
        number = re.match(r"[0-9.]+", m.group(0), re.ASCII)
        assert number is not None
        unit = m.group(0)[number.end() :]
        total += Fraction(number.group(0)) * _UNITS[unit]
        pos = m.end()
    if pos != len(text):
        return None
    return int(total) if total.denominator == 1 else None


def validate(node: Any, sch: dict[str, Any], loc: Loc, out: list[tuple[Loc, str]]) -> None:
    """Append (key path, message) to `out` for every way `node` breaks the schema `sch`."""
    if node is None:
        if not sch.get("nullable"):
            out.append((loc, "must not be null (remove the key to leave it unset)"))
        return
    typ = sch.get("type")
    if sch.get("x-kubernetes-int-or-string"):
        if not isinstance(node, (int, str)) or isinstance(node, bool):
            out.append((loc, f"must be an integer or a string, not {_type_name(node)}"))
        return
    if sch.get("x-kubernetes-preserve-unknown-fields") and typ is None:
        return
    if typ is not None:
        ok = {
            "object": isinstance(node, dict),
            "array": isinstance(node, list),
            "string": isinstance(node, str),
            "integer": isinstance(node, int) and not isinstance(node, bool),
            "number": isinstance(node, (int, float)) and not isinstance(node, bool),
            "boolean": isinstance(node, bool),
        }.get(typ, False)
        if not ok:
            out.append((loc, f"must be {_EXPECTED.get(typ, typ)}, not {_type_name(node)}"))
            return
    if isinstance(node, float) and not math.isfinite(node):
        out.append((loc, f"{node} is not a number Istio accepts"))
        return
    if "enum" in sch and node not in sch["enum"]:
        out.append((loc, f"{show(node)} is not one of {', '.join(str(v) for v in sch['enum'])}"))
        return
    if isinstance(node, (int, float)):
        low, high = sch.get("minimum"), sch.get("maximum")
        if sch.get("format") == "int32":  # Istio refuses negative limits; int32 is the wire type
            low, high = 0 if low is None else max(low, 0), INT32_MAX if high is None else min(high, INT32_MAX)
        if low is not None and node < low:
            out.append((loc, f"{show(node)} is below the minimum {low}"))
        elif high is not None and node > high:
            out.append((loc, f"{show(node)} is above the maximum {high}"))
    if isinstance(node, str):
        if "maxLength" in sch and len(node) > sch["maxLength"]:
            out.append((loc, f"{show(node)} is longer than {sch['maxLength']} characters"))
        if "minLength" in sch and len(node) < sch["minLength"]:
            out.append((loc, f"{show(node)} is shorter than {sch['minLength']} characters"))
        if "pattern" in sch and len(node) <= 4096 and not re.search(sch["pattern"], node):
            out.append((loc, f"{show(node)} does not match {sch['pattern']}"))
        if DURATION in sch:
            nanos = duration_nanos(node)
            low_ms = sch[DURATION]["minMs"]
            if nanos is None:
                out.append((loc, f"{show(node)} is not a duration with a unit, such as 10ms, 5s, 1m or 1h"))
            elif nanos > MAX_NANOS:
                out.append((loc, f"{show(node)} is longer than the longest duration (about 292 years)"))
            elif nanos % 10**6:
                out.append((loc, f"{show(node)}: only whole milliseconds are supported"))
            elif nanos < low_ms * 10**6:
                out.append((loc, f"{show(node)} must be at least {low_ms}ms"))
    if isinstance(node, list):
        if "maxItems" in sch and len(node) > sch["maxItems"]:
            out.append((loc, f"at most {sch['maxItems']} items"))
        if "minItems" in sch and len(node) < sch["minItems"]:
            out.append((loc, f"at least {sch['minItems']} items"))
        if sch.get("x-kubernetes-list-type") in ("set", "map"):
            keys = sch.get("x-kubernetes-list-map-keys")
            seen: set[str] = set()
            for i, item in enumerate(node):
                picked = [item.get(k) for k in keys] if keys and isinstance(item, dict) else item
                text = json.dumps(picked, sort_keys=True, default=str)
                if text in seen:
                    out.append(((*loc, i), "repeats an earlier item (the list is a set)"))
                seen.add(text)
        for i, item in enumerate(node):
            validate(item, sch.get("items") or {}, (*loc, i), out)
    if isinstance(node, dict):
        if sch.get("x-kubernetes-preserve-unknown-fields"):
            return
        if "maxProperties" in sch and len(node) > sch["maxProperties"]:
            out.append((loc, f"at most {sch['maxProperties']} entries"))
        if "minProperties" in sch and len(node) < sch["minProperties"]:
            out.append((loc, f"at least {sch['minProperties']} entries"))
        props = sch.get("properties")
        extra = sch.get("additionalProperties")
        for key, value in node.items():
            if props is not None and key in props:
                validate(value, props[key], (*loc, key), out)
            elif isinstance(extra, dict):
                validate(value, extra, (*loc, key), out)
            elif props is not None or extra is False or typ == "object":
                known = ", ".join(sorted(props or {})) or "none"
                out.append(((*loc, key), f"unknown field (Istio {ISTIO_VERSION} knows: {known})"))
        for key in sch.get("required") or []:
            if key not in node:
                out.append(((*loc, key), "required key is missing"))
        for sub in sch.get("allOf") or []:
            validate(node, sub, loc, out)
        if "oneOf" in sch:
            _one_of(node, sch["oneOf"], loc, out)


def _matches(node: Any, sch: dict[str, Any]) -> bool:
    if "not" in sch:
        return not _matches(node, sch["not"])
    if "anyOf" in sch:
        return any(_matches(node, s) for s in sch["anyOf"])
    found: list[tuple[Loc, str]] = []
    validate(node, sch, (), found)
    return not found


def _one_of(node: Any, branches: list[dict[str, Any]], loc: Loc, out: list[tuple[Loc, str]]) -> None:
    if sum(1 for b in branches if _matches(node, b)) == 1:
        return
    names: list[str] = []
    for b in branches:
        for key in b.get("required") or []:
            if key not in names:
                names.append(key)
    given = [k for k in names if k in node]
    out.append((loc, f"only one of {', '.join(names)} may be set (given: {', '.join(given) or 'none'})"))


# ------------------------------------------------------------------ what istiod checks in Go


def _is_prime(x: int) -> bool:
    if 0 < x < 4:
        return True
    if x % 2 == 0:
        return False
    return all(x % f for f in range(3, math.isqrt(x) + 1, 2))


def _localities(values: list[Any], loc: Loc, out: list[tuple[Loc, str]]) -> None:
    seen: set[str] = set()
    for i, locality in enumerate(values):
        if not isinstance(locality, str):
            continue
        stars = locality.count("*")
        if stars > 1 or (stars and not locality.endswith("*")):
            out.append(((*loc, i), f"locality {show(locality)}: '*' only once, at the end"))
        elif any(part == "" for part in locality.split("/", 2)):
            out.append(((*loc, i), f"locality {show(locality)} has an empty region/zone/subzone"))
        elif locality in seen or "*" in seen:
            out.append(((*loc, i), f"locality {show(locality)} overlaps one given before"))
        seen.add(locality)


TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone")


def _settings(policy: dict[str, Any], loc: Loc, out: list[tuple[Loc, str]]) -> None:
    """The Go-side checks shared by the top level and a port-level entry."""
    pool = policy.get("connectionPool")
    if isinstance(pool, dict):
        if not pool.get("http") and not pool.get("tcp"):
            out.append(((*loc, "connectionPool"), "set tcp and/or http (an empty connection pool is refused)"))
        http = pool.get("http") or {}
        if http.get("h2UpgradePolicy") == "UPGRADE" and http.get("useClientProtocol") is True:
            out.append(
                (
                    (*loc, "connectionPool", "http", "useClientProtocol"),
                    "must not be true when h2UpgradePolicy is UPGRADE",
                )
            )
    outlier = policy.get("outlierDetection")
    if isinstance(outlier, dict):
        for key in ("maxEjectionPercent", "minHealthPercent"):
            value = outlier.get(key)
            if isinstance(value, int) and not 0 <= value <= 100:
                out.append(((*loc, "outlierDetection", key), f"{value} is not a percentage (0-100)"))
        failures = outlier.get("consecutiveLocalOriginFailures")
        if isinstance(failures, int) and failures > 0 and outlier.get("splitExternalLocalOriginErrors") is not True:
            out.append(
                (
                    (*loc, "outlierDetection", "consecutiveLocalOriginFailures"),
                    "needs splitExternalLocalOriginErrors: true",
                )
            )
    lb = policy.get("loadBalancer")
    if not isinstance(lb, dict):
        return
    at = (*loc, "loadBalancer")
    ch = lb.get("consistentHash")
    if isinstance(ch, dict):
        cookie = ch.get("httpCookie")
        if isinstance(cookie, dict) and not cookie.get("name"):
            out.append(((*at, "consistentHash", "httpCookie", "name"), "required (a cookie needs a name)"))
        if ch.get("minimumRingSize") and (ch.get("ringHash") is not None or ch.get("maglev") is not None):
            out.append(((*at, "consistentHash", "minimumRingSize"), "give either minimumRingSize or ringHash/maglev"))
        maglev = ch.get("maglev")
        if isinstance(maglev, dict):
            size = maglev.get("tableSize")
            if not isinstance(size, int) or size == 0:
                out.append(((*at, "consistentHash", "maglev", "tableSize"), "required for maglev"))
            elif size >= 5000011 or not _is_prime(size):
                out.append(((*at, "consistentHash", "maglev", "tableSize"), f"{size} must be a prime below 5000011"))
    loc_lb = lb.get("localityLbSetting")
    if isinstance(loc_lb, dict):
        lat = (*at, "localityLbSetting")
        distribute, failover = loc_lb.get("distribute") or [], loc_lb.get("failover") or []
        if distribute and failover:
            out.append((lat, "give either distribute or failover, not both"))
        if failover:
            for i, label in enumerate(loc_lb.get("failoverPriority") or []):
                if label in TOPOLOGY_LABELS:
                    out.append(((*lat, "failoverPriority", i), f"{label} cannot be combined with failover"))
        for i, entry in enumerate(distribute):
            if not isinstance(entry, dict):
                continue
            weights = entry.get("to") or {}
            bad = [k for k, w in weights.items() if not isinstance(w, int) or not 1 <= w <= 100]
            for k in bad:
                out.append(((*lat, "distribute", i, "to", k), "a weight is 1-100"))
            if not bad and sum(weights.values()) != 100:
                out.append(((*lat, "distribute", i, "to"), f"weights add up to {sum(weights.values())}, not 100"))
            _localities(list(weights), (*lat, "distribute", i, "to"), out)
        _localities([e.get("from") for e in distribute if isinstance(e, dict)], (*lat, "distribute"), out)
        for i, entry in enumerate(failover):
            if not isinstance(entry, dict):
                continue
            src, dst = entry.get("from"), entry.get("to")
            if src == dst:
                out.append(((*lat, "failover", i), "from and to must be different regions"))
            for key, value in (("from", src), ("to", dst)):
                if isinstance(value, str) and ("/" in value or "*" in value):
                    out.append(((*lat, "failover", i, key), f"{show(value)}: a region only, without '/' or '*'"))
    warm = lb.get("warmup")
    if isinstance(warm, dict):
        if "duration" not in warm:
            out.append(((*at, "warmup", "duration"), "required key is missing"))
        aggression = warm.get("aggression")
        if isinstance(aggression, (int, float)) and not isinstance(aggression, bool) and aggression < 1:
            out.append(((*at, "warmup", "aggression"), f"{aggression} must be at least 1"))


def problems(policy: Any) -> list[tuple[Loc, str]]:
    """(key path inside trafficPolicy, message) for every problem of `policy`, [] when valid."""
    out: list[tuple[Loc, str]] = []
    validate(policy, schema(), (), out)
    if out or not isinstance(policy, dict):
        return out
    if not policy:
        return [((), "is empty: give at least one setting or remove the key")]
    _settings(policy, (), out)
    for i, entry in enumerate(policy.get("portLevelSettings") or []):
        if not isinstance(entry, dict):
            continue
        if not (entry.get("port") or {}).get("number"):
            out.append((("portLevelSettings", i, "port", "number"), "required: the port this entry applies to"))
        if not any(k in entry for k in ("connectionPool", "loadBalancer", "outlierDetection", "tls")):
            out.append(
                (("portLevelSettings", i), "give at least one of connectionPool, loadBalancer, outlierDetection")
            )
        _settings(entry, ("portLevelSettings", i), out)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.config.trafficpolicy", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"(re)write {SCHEMA_FILE.name} from the pinned CRDs")
    parser.add_argument("--crd", type=Path, help=f"CRD file (default: $MESHBRIDGE_SHARED or ../shared, {CRD_FILE})")
    args = parser.parse_args(argv)
    crd = args.crd or _shared_dir() / CRD_FILE
    if not crd.is_file():
        print(f"{crd} is missing: run `make schemas` or set MESHBRIDGE_SHARED", file=sys.stderr)
        return 2
    text = render_schema(build_schema(crd))
    if args.write:
        SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
        return 0
    current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else ""
    if current != text:
        print(f"{SCHEMA_FILE} differs from what {crd} gives: run `make istio-schemas`", file=sys.stderr)
        return 1
    print(f"{SCHEMA_FILE.name} matches {crd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
