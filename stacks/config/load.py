"""Loading the stack configuration: read the `meshbridge:*` keys, validate them, return a `MeshConfig`.

`load_stack_config` (the program) and `parse_config` (tests, synth) validate everything before a
single resource is registered: the model (stacks/config/model.py), the files of `distribute`
entries, the cross-checks per section (stacks/config/checks.py) and the fail-closed checks
(stacks/config/strict.py). A mistake raises `ConfigError`, one line per problem, each line starting with
the key path (`meshbridge:clusters[1].vpc.cidr: ...`). `ConfigError` is a `pulumi.RunError`, so
`pulumi up` prints the lines without a traceback and synth exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from pydantic import TypeAdapter, ValidationError

from stacks.config.checks import check_manifest, cross_checks
from stacks.config.model import (
    CaSettings,
    ClusterSpec,
    DeployerSettings,
    DistributeSpec,
    MeshConfig,
    MeshSettings,
    ObservabilitySettings,
    ServiceSpec,
    VerifySettings,
    WorkloadSpec,
)
from stacks.config.problems import NAMESPACE, ConfigError, key_path, show
from stacks.config.strict import strict_checks, url_credential_problems
from stacks.config.yamlsafe import YamlError, read_yaml

TOP_LEVEL_KEYS = ("mesh", "ca", "clusters", "services", "distribute", "workloads", "verify", "observability", "aws")


def _path(key: str, loc: tuple[Any, ...]) -> str:
    return key_path(f"{NAMESPACE}:{key}", loc)


def _pydantic_problems(key: str, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(f"{_path(key, loc)}: {msg}")
    return problems


_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "mesh": TypeAdapter(MeshSettings),
    "ca": TypeAdapter(CaSettings),
    "clusters": TypeAdapter(list[ClusterSpec]),
    "services": TypeAdapter(list[ServiceSpec]),
    "distribute": TypeAdapter(list[DistributeSpec]),
    "workloads": TypeAdapter(list[WorkloadSpec]),
    "verify": TypeAdapter(VerifySettings),
    "observability": TypeAdapter(ObservabilitySettings),
    "aws": TypeAdapter(DeployerSettings),
}
_DEFAULTS: dict[str, Any] = {
    "ca": {},
    "services": [],
    "distribute": [],
    "workloads": [],
    "verify": {},
    "observability": {},
    "aws": {},
}


def parse_config(raw: dict[str, Any], project_root: Path | str = ".", extra_keys: tuple[str, ...] = ()) -> MeshConfig:
    """Validate the `meshbridge:*` values (`raw` maps key without namespace -> decoded value).

    `extra_keys` are other `meshbridge:` keys found in the stack config (typos of top-level keys).
    """
    problems: list[str] = [
        f"{key_path(NAMESPACE + ':', [k]).replace(':.', ':', 1)}: unknown key (known: {', '.join(TOP_LEVEL_KEYS)})"
        for k in extra_keys
    ]
    # reported with the model's problems, or else with the cross-checks' (they do not stop the checks)
    credentials = [p for key in TOP_LEVEL_KEYS for p in url_credential_problems(f"{NAMESPACE}:{key}", raw.get(key))]
    parsed: dict[str, Any] = {}
    for key, adapter in _ADAPTERS.items():
        value = raw.get(key)
        if value is None:
            if key not in _DEFAULTS:
                problems.append(f"{NAMESPACE}:{key}: required key is missing")
                continue
            value = _DEFAULTS[key]
        try:
            parsed[key] = adapter.validate_python(value)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(key, exc))
    if problems:
        raise ConfigError([*problems, *credentials])

    problems.extend(credentials)
    cfg = MeshConfig(**parsed)
    manifests, file_problems = _load_distribute(cfg.distribute, Path(project_root))
    problems.extend(file_problems)
    problems.extend(cross_checks(cfg))
    problems.extend(p for p in strict_checks(cfg, manifests) if p not in problems)
    if problems:
        raise ConfigError(problems)
    return cfg.model_copy(update={"distribute_manifests": manifests})


def _load_distribute(entries: list[DistributeSpec], root: Path) -> tuple[list[list[dict[str, Any]]], list[str]]:
    result: list[list[dict[str, Any]]] = []
    problems: list[str] = []
    for i, d in enumerate(entries):
        at = f"meshbridge:distribute[{i}]"
        objs: list[Any] = []
        if (d.manifests is None) == (d.file is None):
            problems.append(f"{at}: give exactly one of manifests or file")
        elif d.manifests is not None:
            objs = list(d.manifests)
            if not objs:
                problems.append(f"{at}.manifests: list is empty")
            for j, obj in enumerate(objs):
                problems.extend(check_manifest(f"{at}.manifests[{j}]", obj))
        else:
            assert d.file is not None
            path = Path(d.file)
            if path.is_absolute() or ".." in path.parts:
                problems.append(f"{at}.file: {d.file!r} must be a relative path inside the project")
            else:
                try:
                    objs = [o for o in read_yaml(root / path, multi=True) if o is not None]
                except OSError as exc:
                    problems.append(f"{at}.file: cannot read {show(d.file)}: {exc.strerror or exc}")
                except YamlError as exc:
                    problems.append(f"{at}.file: {exc.where(d.file)}")
                else:
                    if not objs:
                        problems.append(f"{at}.file: {d.file!r} holds no Kubernetes object")
                    for j, obj in enumerate(objs):
                        problems.extend(check_manifest(f"{at}.file[{j}]", obj))
                        problems.extend(url_credential_problems(f"{at}.file[{j}]", obj))
        result.append(objs)
    return result, problems


# ------------------------------------------------------------------------- reading the stack


def read_raw_config() -> tuple[dict[str, Any], tuple[str, ...]]:
    """The decoded `meshbridge:*` values of the running stack and any unknown top-level keys.

    Structured values arrive as JSON strings (as the Pulumi engine passes them); a key holding a
    secret (a kubeconfig) is read as a secret so that the engine keeps it encrypted.
    """
    from pulumi.runtime.config import CONFIG

    problems: list[str] = []
    raw: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        full = f"{NAMESPACE}:{key}"
        text = pulumi.runtime.get_config(full)
        if text is None or (isinstance(text, str) and text.strip() in ("", "null")):
            continue  # `meshbridge:ca: null` is the same as no `meshbridge:ca`
        try:
            raw[key] = json.loads(text) if isinstance(text, str) else text
        except (json.JSONDecodeError, RecursionError):
            problems.append(f"{full}: must be a structured value (a YAML mapping or list), got {show(text)}")
    if problems:
        raise ConfigError(problems)
    extra = tuple(
        sorted(
            k.split(":", 1)[1]
            for k in CONFIG.get()
            if k.startswith(f"{NAMESPACE}:") and k.split(":", 1)[1] not in TOP_LEVEL_KEYS
        )
    )
    return raw, extra


def load_stack_config(project_root: Path | str = ".") -> MeshConfig:
    """The running stack's configuration; also refuses a risky change this stack's previous outputs
    show and `mesh.migration` does not acknowledge (stacks/migration.py), before any resource."""
    from stacks.migration import migration_problems, previous_outputs

    raw, extra = read_raw_config()
    cfg = parse_config(raw, project_root, extra)
    problems = migration_problems(cfg, previous_outputs())
    if problems:
        raise ConfigError(problems)
    return cfg


def is_secret_key(key: str) -> bool:
    return bool(pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"))
