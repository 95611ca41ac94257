"""The schema validator (tests/validators.py) accepts good objects and is proven able to fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import require_shared
from tests.validators import ISTIO_CRDS, TGB_CRD, crd_schemas, strict_schema, validate_object


@pytest.fixture(autouse=True)
def _pinned_files() -> None:
    require_shared(ISTIO_CRDS)
    require_shared(TGB_CRD)


PEER_AUTHENTICATION: dict[str, Any] = {
    "apiVersion": "security.istio.io/v1",
    "kind": "PeerAuthentication",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"mtls": {"mode": "STRICT"}},
}
GATEWAY: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"},
    "spec": {
        "selector": {"istio": "eastwestgateway"},
        "servers": [
            {
                "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": ["hello.demo.svc.cluster.local"],
            }
        ],
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "hello-0", "namespace": "demo", "labels": {"app": "hello"}},
    "spec": {
        "type": "ClusterIP",
        "selector": {"statefulset.kubernetes.io/pod-name": "hello-0"},
        "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}],
    },
}
TARGET_GROUP_BINDING: dict[str, Any] = {
    "apiVersion": "elbv2.k8s.aws/v1beta1",
    "kind": "TargetGroupBinding",
    "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
    "spec": {
        "serviceRef": {"name": "istio-eastwestgateway", "port": 15443},
        "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/x/0123456789abcdef",
        "targetType": "ip",
    },
}


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `obj` with `value` at the dotted `path` (list indexes as numbers)."""
    out = copy.deepcopy(obj)
    node: Any = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def _without(obj: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node: Any = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[keys[-1]]
    return out


@pytest.mark.parametrize("obj", [PEER_AUTHENTICATION, GATEWAY, SERVICE, TARGET_GROUP_BINDING], ids=lambda o: o["kind"])
def test_good_objects_pass(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []


# (object, mutated path, bad value, expected fragment of the one message, field path in the message)
BAD = [
    # Istio object: typo in a field, bad enum, wrong type, typo in metadata, missing required
    (PEER_AUTHENTICATION, "spec.mtls.mdoe", "STRICT", "'mdoe' was unexpected", "spec.mtls"),
    (PEER_AUTHENTICATION, "spec.mtls.mode", "STRICTEST", "'STRICTEST' is not one of", "spec.mtls.mode"),
    (PEER_AUTHENTICATION, "spec.mtls", "STRICT", "is not of type 'object'", "spec.mtls"),
    (PEER_AUTHENTICATION, "metadata.lables", {"a": "b"}, "'lables' was unexpected", "metadata"),
    (
        GATEWAY,
        "spec.servers.0.tls.mode",
        "AUTOPASSTHROUGH",
        "'AUTOPASSTHROUGH' is not one of",
        "spec.servers.0.tls.mode",
    ),
    (GATEWAY, "spec.servers.0.port.number", "15443", "is not of type 'integer'", "spec.servers.0.port.number"),
    (GATEWAY, "spec.servers.0.host", ["x.local"], "'host' was unexpected", "spec.servers.0"),
    (GATEWAY, "spec.servers.0.hosts", "x.local", "is not of type 'array'", "spec.servers.0.hosts"),
    # core object: typo in a field, bad enum (API-server enums, CORE_ENUMS), wrong type
    (SERVICE, "spec.selectr", {"app": "hello"}, "'selectr' was unexpected", "spec"),
    (SERVICE, "spec.type", "ClusterIp", "'ClusterIp' is not one of", "spec.type"),
    (SERVICE, "spec.ports.0.protocol", "tcp", "'tcp' is not one of", "spec.ports.0.protocol"),
    (SERVICE, "spec.ports.0.port", "8080", "is not of type 'integer'", "spec.ports.0.port"),
    (SERVICE, "metadata.labels", ["app=hello"], "is not of type 'object'", "metadata.labels"),
    # TargetGroupBinding: typo, bad enum, wrong type
    (TARGET_GROUP_BINDING, "spec.targetGroupArn", "arn:x", "'targetGroupArn' was unexpected", "spec"),
    (TARGET_GROUP_BINDING, "spec.targetType", "pod", "'pod' is not one of", "spec.targetType"),
    (TARGET_GROUP_BINDING, "spec.serviceRef.port", 15443.5, "15443.5", "spec.serviceRef.port"),
]


@pytest.mark.parametrize(
    ("obj", "path", "value", "fragment", "where"), BAD, ids=[f"{b[0]['kind']}:{b[1]}={b[2]!r}" for b in BAD]
)
def test_bad_objects_fail(obj: dict[str, Any], path: str, value: Any, fragment: str, where: str) -> None:
    problems = validate_object(_with(obj, path, value))
    assert len(problems) == 1, problems
    assert fragment in problems[0]
    assert f": {where}: " in problems[0]
    # the message names the object
    assert problems[0].startswith(f"{obj['apiVersion']} {obj['kind']} ")


@pytest.mark.parametrize(
    ("obj", "path", "fragment"),
    [
        (SERVICE, "spec.ports.0.port", "'port' is a required property"),
        (TARGET_GROUP_BINDING, "spec.serviceRef", "'serviceRef' is a required property"),
        (GATEWAY, "metadata.name", "metadata.name: required"),
    ],
)
def test_missing_required_fields_fail(obj: dict[str, Any], path: str, fragment: str) -> None:
    problems = validate_object(_without(obj, path))
    assert any(fragment in p for p in problems), problems


def test_all_problems_are_reported_not_only_the_first() -> None:
    bad = _with(_with(PEER_AUTHENTICATION, "spec.mtls.mode", "STRICTEST"), "spec.selectr", {})
    assert len(validate_object(bad)) == 2


@pytest.mark.parametrize(
    ("api_version", "kind", "fragment"),
    [
        ("networking.istio.io/v2", "Gateway", "no CRD schema"),  # a version the CRD does not serve
        ("networking.istio.io/v1", "Gatewy", "no CRD schema"),  # a kind no CRD defines
        ("v1", "Sevice", "no schema"),  # not a Kubernetes kind
        ("example.com/v1", "Service", "no schema"),  # unknown group: never accepted silently
    ],
)
def test_unknown_kinds_are_errors(api_version: str, kind: str, fragment: str) -> None:
    problems = validate_object({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
    assert len(problems) == 1 and fragment in problems[0], problems


def test_older_served_istio_versions_validate_against_their_own_schema() -> None:
    assert validate_object({**GATEWAY, "apiVersion": "networking.istio.io/v1beta1"}) == []
    assert ("networking.istio.io", "v1alpha3", "Gateway") in crd_schemas()


def test_int_or_string_and_preserve_unknown_fields() -> None:
    node = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "opt": {"type": "string", "nullable": True},
        },
    }
    schema = strict_schema(node)
    assert schema["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["free"]
    assert schema["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["opt"]["type"] == ["string", "null"]
    # through a real CRD: TargetGroupBinding serviceRef.port is int-or-string
    assert validate_object(_with(TARGET_GROUP_BINDING, "spec.serviceRef.port", "tls")) == []


def test_cel_rules_are_not_evaluated() -> None:
    """Documented limit: x-kubernetes-validations (CEL) are skipped, e.g. Istio's rule that
    portLevelMtls requires a selector. A test that needs such a rule must assert it itself."""
    obj = _with(PEER_AUTHENTICATION, "spec.portLevelMtls", {"8080": {"mode": "DISABLE"}})
    assert validate_object(obj) == []


def test_values_synth_cannot_show_match_anything() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cacerts"}, "stringData": "[secret]"}
    assert validate_object(secret) == []
    assert validate_object({**secret, "stringData": {"ca-cert.pem": 1}}) != []
