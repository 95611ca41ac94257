"""Schema validation of every Kubernetes object meshbridge creates (docs/architecture.md, "Verification").

    from tests.validators import validate_object
    assert validate_object(obj) == []        # [] = valid; otherwise one message per problem

`obj` is the object as synth writes it (`synth.render.k8s_object`, or any manifest dict):
- Istio kinds (`*.istio.io`): the `openAPIV3Schema` of the matching CRD *version* in the pinned
  ../shared/istio/1.30.3/crd-all.gen.yaml;
- `TargetGroupBinding` (`elbv2.k8s.aws`): its CRD in ../shared/aws-load-balancer-controller/v3.5.0;
- cert-manager kinds (`cert-manager.io`: Certificate, Issuer, ...): the CRDs of cert-manager's pinned
  Go module (`deploy/crds`, prepared by synth/charts.py), and aws-privateca-issuer's
  (`awspca.cert-manager.io`: AWSPCAClusterIssuer, ...) from its pinned module's chart;
- every other kind: the official Kubernetes schemas of kubernetes-validate, strict variant
  (unknown fields are errors), for the newest Kubernetes version it bundles (`K8S_VERSION`), plus
  the few enums the API server checks in Go code that meshbridge's objects use (`CORE_ENUMS`: the
  published schemas have no enums, e.g. Service `spec.type`).

CRD schemas are turned into strict JSON Schema the way the API server treats a structural schema,
except that unknown fields are *errors* instead of being pruned silently:
- `additionalProperties: false` on every object schema that lists `properties` (or is a plain
  `type: object`) unless it sets `x-kubernetes-preserve-unknown-fields` or its own
  `additionalProperties` (maps);
- `x-kubernetes-int-or-string` -> integer or string; `nullable` -> null allowed;
- `x-kubernetes-list-type: set` -> unique items, `map` -> unique `x-kubernetes-list-map-keys`;
- `metadata` is checked against the Kubernetes `ObjectMeta` schema (strict) as the server does;
- NOT checked: the `x-kubernetes-validations` CEL rules (no CEL evaluator here; e.g. Istio's
  "wildcard not allowed in label key match" or "portLevelMtls requires selector"), and string
  `format`s. Tests that care about such a rule must assert it themselves.

An object whose apiVersion/kind has no schema is an error (never silently accepted). Loaded schemas
and compiled validators are cached per process. The pinned files are found in ../shared beside the
project (CI) or in $MESHBRIDGE_SHARED (`make schemas`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Optional

import jsonschema
import kubernetes_validate
import yaml
from jsonschema.exceptions import best_match
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from synth.charts import aws_pca_issuer, cert_manager
from tests.conftest import shared_dir

ISTIO_VERSION = "1.30.3"
ALBC_VERSION = "v3.5.0"
ISTIO_CRDS = f"istio/{ISTIO_VERSION}/crd-all.gen.yaml"
TGB_CRD = f"aws-load-balancer-controller/{ALBC_VERSION}/targetgroupbindings.crd.yaml"
CRD_FILES = (ISTIO_CRDS, TGB_CRD)
# groups whose kinds come from the pinned CRDs (a kind or version missing there is an error)
CRD_GROUP_RE = re.compile(r"(^|\.)istio\.io$|^elbv2\.k8s\.aws$|^(awspca\.)?cert-manager\.io$")
K8S_VERSION = kubernetes_validate.latest_version()  # newest bundled, e.g. 1.37.0
K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"
# synth's stand-ins for values it cannot show (synth.engine.SECRET, redact of an unknown): any value
UNKNOWN_VALUES = ("[secret]", "[unknown until apply]")
# Enums the API server enforces in Go code: the published OpenAPI schemas carry none, the valid
# options are only written in the field descriptions. Added to the definitions so that a typo such
# as `type: ClusterIp` fails here too. (definition, property) -> allowed values.
CORE_ENUMS: dict[tuple[str, str], list[str]] = {
    ("io.k8s.api.core.v1.ServiceSpec", "type"): ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"],
    ("io.k8s.api.core.v1.ServiceSpec", "externalTrafficPolicy"): ["Cluster", "Local"],
    ("io.k8s.api.core.v1.ServiceSpec", "internalTrafficPolicy"): ["Cluster", "Local"],
    ("io.k8s.api.core.v1.ServiceSpec", "sessionAffinity"): ["ClientIP", "None"],
    ("io.k8s.api.core.v1.ServiceSpec", "ipFamilyPolicy"): ["SingleStack", "PreferDualStack", "RequireDualStack"],
    ("io.k8s.api.core.v1.ServicePort", "protocol"): ["TCP", "UDP", "SCTP"],
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): ["TCP", "UDP", "SCTP"],
    ("io.k8s.api.core.v1.Container", "imagePullPolicy"): ["Always", "IfNotPresent", "Never"],
    ("io.k8s.api.core.v1.PodSpec", "restartPolicy"): ["Always", "OnFailure", "Never"],
    ("io.k8s.api.core.v1.PodSpec", "dnsPolicy"): ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
}


def _shared_file(rel: str) -> Path:
    path = shared_dir() / rel
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make schemas` or set MESHBRIDGE_SHARED")
    return path


# ------------------------------------------------------------------- CRD schema -> JSON Schema

# keywords that carry no validation (or one we cannot evaluate: CEL)
_DROP = {
    "description",
    "default",
    "example",
    "externalDocs",
    "nullable",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-embedded-resource",
}


def strict_schema(node: Any) -> Any:
    """A CRD openAPIV3Schema node as strict JSON Schema (see the module docstring)."""
    if isinstance(node, list):
        return [strict_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in ("properties", "patternProperties"):  # name -> schema (a property may be called "type")
            out[key] = {name: strict_schema(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict_schema(value)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [strict_schema(s) for s in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        out["uniqueItems"] = True
    elif list_type == "map" and node.get(LIST_MAP_KEYS):
        out[LIST_MAP_KEYS] = list(node[LIST_MAP_KEYS])
    is_object = "properties" in node or node.get("type") == "object"
    if is_object and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _root_schema(openapi: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any]:
    schema = strict_schema(openapi)
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props["metadata"] = {"$ref": OBJECT_META}  # the server validates metadata as ObjectMeta
    schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
    schema["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> strict JSON Schema, for every served version of the pinned CRDs."""
    schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
    files = [_shared_file(rel) for rel in CRD_FILES]
    files += sorted((cert_manager() / "crds").glob("cert-manager.io_*.yaml"))
    files += sorted((aws_pca_issuer() / "crds").glob("awspca.cert-manager.io_*.yaml"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"]
            for ver in spec["versions"]:
                if not ver.get("served", True):
                    continue
                openapi = ver["schema"]["openAPIV3Schema"]
                schemas[(spec["group"], ver["name"], kind)] = _root_schema(openapi, spec["group"], ver["name"], kind)
    return schemas


# -------------------------------------------------------------------------- the validators


def _list_map_keys(validator: Any, keys: list[str], instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """x-kubernetes-list-type: map -- no two items share the same values of the map keys."""
    if not validator.is_type(instance, "array"):
        return
    seen: dict[tuple[Any, ...], int] = {}
    for i, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        key = tuple(repr(item.get(k)) for k in keys)
        if key in seen:
            which = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
            yield jsonschema.ValidationError(f"items {seen[key]} and {i} have the same key ({which})")
        else:
            seen[key] = i


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {LIST_MAP_KEYS: _list_map_keys})


def _k8s_schema_dir() -> str:
    return f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"


@cache
def _k8s_registry() -> Registry:
    definitions = kv_utils.schema_contents(f"{_k8s_schema_dir()}/_definitions.json", K8S_VERSION)
    for (name, prop), values in CORE_ENUMS.items():
        field = definitions["$defs"][name]["properties"][prop]
        field["enum"] = [*values, None] if "null" in (field.get("type") or []) else list(values)
    return Resource.from_contents(definitions) @ Registry()  # type: ignore[no-any-return]


@cache
def _crd_validator(group: str, version: str, kind: str) -> Optional[Any]:
    schema = crd_schemas().get((group, version, kind))
    if schema is None:
        return None
    return _Validator(schema, registry=_k8s_registry())


@cache
def _core_validator(api_version: str, kind: str) -> Optional[Any]:
    # file naming of kubernetes-validate: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"{_k8s_schema_dir()}/{kind.lower()}-{api}.json", K8S_VERSION)
    except FileNotFoundError:
        return None
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    group, _, version = api_version.rpartition("/")
    if gvks and not any(
        g.get("group") == group and g.get("version") == version and g.get("kind") == kind for g in gvks
    ):
        return None  # e.g. foo.example.com/v1 would otherwise map to the file of foo/v1
    registry = Resource.from_contents(schema) @ _k8s_registry()
    return _Validator(schema, registry=registry)


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('apiVersion')} {obj.get('kind')} {where}{meta.get('name', '<unnamed>')}"


def _message(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "<root>"
    if error.context:  # oneOf/anyOf: say which alternative came closest and why it failed
        inner = best_match(error.context)
        inner_path = ".".join(str(p) for p in inner.absolute_path) or path
        return f"{path}: {error.message}; closest: {inner_path}: {inner.message}"
    return f"{path}: {error.message}"


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_VALUES


def validate_object(obj: Any) -> list[str]:
    """Problems of one Kubernetes object against its schema ([] = valid), each prefixed with
    `<apiVersion> <Kind> <namespace>/<name>:` and the field path.

    A value synth cannot show ("[secret]", "[unknown until apply]") matches any schema: validate
    unredacted inputs (`synth.engine.unwrap`) where the secret's shape matters."""
    if not isinstance(obj, dict):
        return [f"<object>: a Kubernetes object must be a mapping, got {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return [f"{_describe(obj)}: apiVersion and kind are required strings"]
    group, _, version = api_version.rpartition("/")
    if CRD_GROUP_RE.search(group):
        validator = _crd_validator(group, version, kind)
        if validator is None:
            known = sorted(f"{g}/{v}" for g, v, k in crd_schemas() if k == kind)
            hint = f" (served: {', '.join(known)})" if known else " (no such kind in the pinned CRDs)"
            return [f"{_describe(obj)}: no CRD schema for {api_version} {kind}{hint}"]
    else:
        validator = _core_validator(api_version, kind)
        if validator is None:
            why = f"not a Kubernetes {K8S_VERSION} kind nor a pinned CRD"
            return [f"{_describe(obj)}: no schema for {api_version} {kind} ({why})"]
    problems = [f"{_describe(obj)}: {_message(e)}" for e in validator.iter_errors(obj) if not _unknown(e.instance)]
    meta = obj.get("metadata")
    if isinstance(meta, dict) and not (meta.get("name") or meta.get("generateName")):
        problems.append(f"{_describe(obj)}: metadata.name: required")
    return sorted(problems)


def validate_objects(objects: list[dict[str, Any]]) -> list[str]:
    """All problems of several objects (see validate_object)."""
    return [p for obj in objects for p in validate_object(obj)]
