"""Shared fixtures: the real program run on the synth engine, and helpers to run variants."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from synth.engine import Registration, SynthResult, run_program  # noqa: E402
from synth.render import cluster_of, k8s_objects  # noqa: E402


def shared_dir() -> Path:
    """../shared beside the project (CI), or MESHBRIDGE_SHARED (a `make schemas` download)."""
    env = os.environ.get("MESHBRIDGE_SHARED")
    return Path(env) if env else PROJECT.parent / "shared"


def require_shared(rel: str) -> Path:
    """A pinned reference file; in CI its absence is a failure, never a skip."""
    path = shared_dir() / rel
    if not path.exists():
        msg = f"{path} is missing: run `make schemas` or set MESHBRIDGE_SHARED"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def stack_config(stack: str) -> dict[str, Any]:
    """The parsed stack file (a fresh deep copy to mutate)."""
    return copy.deepcopy(yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text()))


Mutation = Callable[[dict[str, Any]], None]


def config_problems(stack: str, mutate: Mutation) -> list[str]:
    """The configuration's refusals (stacks.config.load.parse_config) of a mutated copy of a stack
    file's `meshbridge:*` values; [] when it is accepted."""
    from stacks.config.load import parse_config
    from stacks.config.problems import ConfigError

    doc = stack_config(stack)["config"]
    mutate(doc)
    raw = {k.split(":", 1)[1]: v for k, v in doc.items() if k.startswith("meshbridge:")}
    try:
        parse_config(raw, PROJECT)
    except ConfigError as exc:
        return exc.problems
    return []


def synth_refusal(tmp_path: Path, stack: str, mutate: Mutation) -> str:
    """`python -m synth` on a mutated copy of a stack file must refuse it as a user sees it: exit 2,
    no traceback, nothing written. Returns its standard error (the refusals)."""
    doc = stack_config(stack)
    mutate(doc["config"])
    stack_file = tmp_path / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "synth", "--stack", stack, "--config-file", str(stack_file), "--out", str(out)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()
    return proc.stderr


def edit(tree: Path, rel: str, change: Mutation) -> None:
    """Change the object `clusters/<rel>` of a synth tree in place."""
    path = tree / "clusters" / rel
    obj = yaml.safe_load(path.read_text())
    change(obj)
    path.write_text(yaml.safe_dump(obj))


def judge_fault(judge: Path, tree: Path, tmp_path: Path, rel: str, change: Mutation) -> str:
    """The judge on a copy of `tree` whose object `clusters/<rel>` was changed: it must fail (exit 1).
    Returns its report."""
    copy_ = tmp_path / "tree"
    shutil.copytree(tree, copy_)
    edit(copy_, rel, change)
    proc = run_judge(judge, copy_)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout


def set_at(path: list[Any], value: Any) -> Mutation:
    """A mutation of a stack's config: set the value at a key path (keys and list indexes)."""

    def mutate(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def delete_at(path: list[Any]) -> Mutation:
    """A mutation of a stack's config: delete the key (or list item) at a key path."""

    def mutate(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def all_of(*mutations: Mutation) -> Mutation:
    """Several mutations applied in order."""

    def mutate(cfg: dict[str, Any]) -> None:
        for m in mutations:
            m(cfg)

    return mutate


def run_variant(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    stack: str = "staging",
    fakes: Optional[list[Any]] = None,
    stack_outputs: Optional[dict[str, Any]] = None,
) -> SynthResult:
    """Run the real program with a mutated copy of a stack file (written outside the project)."""
    doc = stack_config(stack)
    mutate(doc["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_program(stack, path, stack_outputs=stack_outputs, fakes=fakes)


@pytest.fixture(scope="session")
def staging() -> SynthResult:
    result = run_program("staging")
    assert result.ok, result.errors
    return result


@pytest.fixture(scope="session")
def production() -> SynthResult:
    result = run_program("production")
    assert result.ok, result.errors
    return result


def stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT.glob("Pulumi.*.yaml"))


def of_type(result: SynthResult, typ: str) -> list[Registration]:
    return [r for r in result.registrations if r.type == typ]


def cluster_objects(result: SynthResult, cluster: str) -> list[dict[str, Any]]:
    """The Kubernetes objects synth writes for one cluster."""
    return list(k8s_objects(result).get(cluster, {}).values())


def provider_cluster(result: SynthResult, reg: Registration) -> Optional[str]:
    """Which cluster a resource belongs to, through its explicit provider."""
    providers = cluster_of(result)
    aws = {r.urn: r.name.removesuffix("-aws") for r in result.registrations if r.type == "pulumi:providers:aws"}
    urn = reg.provider or next(iter(reg.providers.values()), "")
    return providers.get(urn) or aws.get(urn)


# ---------------------------------------------------------------------------- the Istio judge


@pytest.fixture(scope="session")
def judge() -> Path:
    """The Istio judge (verify/), built by tools/build-verify.sh; in CI a judge that cannot be built
    is a failure, never a skip."""
    from synth.verify import JudgeUnavailableError, judge_binary

    try:
        return judge_binary()
    except JudgeUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def run_judge(judge: Path, tree: Path) -> subprocess.CompletedProcess[str]:
    from synth.verify import judge_env

    return subprocess.run(
        [str(judge), "judge", str(tree)], capture_output=True, text=True, env=judge_env(tree), timeout=600
    )
