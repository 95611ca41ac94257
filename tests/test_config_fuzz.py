"""Issue 13 acceptance: mutated stack files either render validly or are refused cleanly.

Hypothesis mutates both stack files (values replaced by hostile ones, keys deleted or added, list
items repeated, containers emptied or wrapped) and then, sometimes, the YAML text itself (a tab, a
cut, UTF-16, a repeated line, a flipped byte, an anchor bomb). For each mutation the real program
runs on the synth engine and the outcome must be one of:

- accepted: every Kubernetes object of the render is valid for its schema (the pinned CRDs and
  Kubernetes schemas, tests/validators.py);
- refused: one or more lines, each a single printable line starting with a key path
  (`meshbridge:...`) or the stack file's name, nothing registered, and no exception (so no traceback).

The run is deterministic (`derandomize`, no example database) and bounded (`max_examples`), so
`make test` stays fast and gives the same result every time. A hang guard fails an example that runs
for more than `HANG_SECONDS` (a hang, not a performance target: speed is measured by `make bench`).
"""

from __future__ import annotations

import copy
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from stacks.config.problems import LINE_LIMIT
from synth.engine import run_program
from synth.render import k8s_objects
from tests.conftest import require_shared, stack_config

HANG_SECONDS = 120
# MESHBRIDGE_FUZZ_EXAMPLES=2000 MESHBRIDGE_FUZZ_SEED=<n> for a longer, differently seeded run by hand
MAX_EXAMPLES = int(os.environ.get("MESHBRIDGE_FUZZ_EXAMPLES", "60"))
SEED = os.environ.get("MESHBRIDGE_FUZZ_SEED")

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    8080,
    2**63,
    1.5,
    8080.0,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x\n",
    "default/frontend\n",
    "١١١١١١١١١١١١",
    "0.0.0.0/0",
    "10.10.0.0",
    "https:///",
    "FASTEST",
    "-1s",
    "10",
    "9lives",
    "kube-system",
    "istio-system",
    "a" * 300,
    "cluster-a",
    "mesh: enabled",
    [],
    {},
    [None],
    {"": 1},
    {"regi\non": "x"},
    {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}},
    {"port": {"number": 9999}, "tls": {"mode": "DISABLE"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cacerts", "namespace": "istio-system"}},
]
OPS = ("replace", "delete", "unknown-key", "repeat-item", "empty", "wrap")
TEXT_OPS = (None, None, None, None, "tab", "cut", "utf-16", "repeat-line", "flip-byte", "bomb")
BOMB = "  meshbridge:bomb: &b0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  meshbridge:bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the config tree (a mapping key or a list index)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def mutated_stack_files(draw: st.DrawFn) -> tuple[str, bytes]:
    stack = draw(st.sampled_from(["staging", "production"]))
    doc = stack_config(stack)
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in _paths(doc["config"]) if p[0] != "pulumi:disable-default-providers"]
        path = draw(st.sampled_from(places))
        parent, last = _parent(doc["config"], path), path[-1]
        op = draw(st.sampled_from(OPS))
        if op == "replace":
            parent[last] = copy.deepcopy(draw(st.sampled_from(HOSTILE)))
        elif op == "delete":
            del parent[last]
        elif op == "unknown-key" and isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(["extra", "Name", "trafficPolicy", "regi\non"]))] = "x"
        elif op == "repeat-item" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif op == "empty" and isinstance(parent[last], (dict, list)):
            parent[last] = type(parent[last])()
        elif op == "wrap":
            parent[last] = [parent[last]]
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    lines = text.splitlines(keepends=True)
    text_op = draw(st.sampled_from(TEXT_OPS))
    if text_op == "tab":
        i = draw(st.integers(1, len(lines) - 1))
        lines[i] = "\t" + lines[i].lstrip(" ")
    elif text_op == "repeat-line":
        i = draw(st.integers(1, len(lines) - 1))
        lines.insert(i, lines[i])
    elif text_op == "bomb":
        lines.insert(1, BOMB)
    data = "".join(lines).encode("utf-8")
    if text_op == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif text_op == "utf-16":
        data = "".join(lines).encode("utf-16")
    elif text_op == "flip-byte":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    return stack, data


class HangError(Exception):
    pass


def _hang(signum: int, frame: Any) -> None:
    raise HangError(f"the example ran for more than {HANG_SECONDS} s")


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=SEED is None,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@seed(int(SEED or 0))
@given(mutated_stack_files())
def test_mutated_stack_file_renders_validly_or_is_refused_cleanly(case: tuple[str, bytes]) -> None:
    from tests.validators import validate_objects

    require_shared("istio/1.30.3/crd-all.gen.yaml")
    stack, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"Pulumi.{stack}.yaml"
        path.write_bytes(data)
        previous = signal.signal(signal.SIGALRM, _hang)
        signal.alarm(HANG_SECONDS)
        try:
            result = run_program(stack, path)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    event("refused" if result.errors else "accepted")
    if result.errors:
        assert result.registrations == [], result.errors
        for line in result.errors:
            assert line.startswith(("meshbridge:", str(path))), line
            assert ": " in line and line.isprintable() and len(line) <= LINE_LIMIT, line
        return
    objects = [obj for files in k8s_objects(result).values() for obj in files.values()]
    assert objects, "an accepted configuration renders Kubernetes objects"
    assert validate_objects(objects) == []
