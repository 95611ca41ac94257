"""make e2e: meshbridge on the real Pulumi engine and Pulumi's own Kubernetes provider, against one
real Kubernetes API server per cluster, offline (docs/e2e.md).

    .venv/bin/python tools/e2e/run.py [--keep] [--phase all|main|istiod] [--clusters N]

Builds (or takes from the cache) the Pulumi CLI, the tls and kubernetes providers
(tools/build-pulumi.sh), the Istio judge (tools/build-verify.sh) and meshbridge-apiserver
(tools/build-kube.sh), starts one API server per cluster (cluster-a, cluster-b and cluster-c, the
cluster the "added consumer" change brings) and runs, in a temporary folder with a file backend:

1. two "infra" stacks (tools/e2e/infra) whose secret output `kubeconfig` feeds cluster-b and
   cluster-c through `infraStack`, as a team's cluster project would; cluster-a's kubeconfig is a
   secret of the stack file;
2. the mesh stack `e2e`: Pulumi.local.yaml with Istio's charts taken from the pinned Istio module
   (`mesh.istio.chartDirectory`). `pulumi preview` must create as many resources as synth registers
   plus the objects of the charts; after `pulumi up` the objects the API servers hold (read back
   through the API) must be synth's, the charts' CRDs established before any custom resource, and
   pass the Istio judge; openssl verifies the CA chain the real tls provider issued; a second
   `pulumi up` must change nothing; adding a consumer (cluster-c consuming backend-api) must preview
   exactly the creates and updates that synth predicts;
3. the faults: the engine killed (SIGKILL) in the middle of the `up` that adds cluster-c, then the
   runbook's steps; objects edited by hand (drift), then refresh, preview and up; cluster-c's API
   server stopped in the middle of the `up` that removes cluster-c again, then a later `up`;
4. examples/consumer as a second real stack reading the mesh stack through a StackReference (in
   pulumi-kubernetes' render mode: `renderYamlToDirectory`);
5. `pulumi destroy --exclude-protected` on all of them: only the protected root CA stays, and the
   API servers hold nothing of ours.

The objects that would wait for a controller that does not run here get `pulumi.com/skipAwait`
through a stack transform of the e2e only (tools/e2e/skip_await.py). It ends with
`e2e: pulumi-kubernetes VERSION (real), preview N, up N against 3 API servers, second up 0 changes,
destroy ok`; any failed expectation exits 1 with what differed. Then the istiod phase
(tools/e2e/istiod.py: a real istiod and kube-controller-manager per cluster on a multi-primary
stack) ends with `e2e istiod: ...`; `--phase main|istiod` runs one of the two. `--clusters N`
instead generates an N-cluster local mesh (N API servers) and only times preview, up and a second up
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kube import ApiServer, Kube, KubeError, pulumi_managed, served  # noqa: E402 - tools/e2e on the path
from skip_await import ANNOTATION as SKIP_AWAIT  # noqa: E402
from skip_await import OVERRIDES  # noqa: E402

from synth.engine import SECRET  # noqa: E402 - after the project is on the path

PY = sys.executable
MESH_STACK = "e2e"
INFRA_PROJECT = "meshbridge-e2e-infra"
# one infra stack per cluster that takes its kubeconfig from there
INFRA = {"cluster-b": f"organization/{INFRA_PROJECT}/cluster-b", "cluster-c": f"organization/{INFRA_PROJECT}/cluster-c"}
CLUSTERS = ("cluster-a", "cluster-b", "cluster-c")
# the program's files (copied: the e2e stack file must not land in the work tree)
PROGRAM = ("__main__.py", "Pulumi.yaml", "components", "stacks", "policy", "distribute")
CHARTS = {"base": "base", "istiod": "istio-control/istio-discovery", "gateway": "gateway"}
STACK_REFERENCE = "pulumi:pulumi:StackReference"
# in the URN of an object that a Chart component registered
CHART_CHILD = "meshbridge:helm:Chart$"
POLICY_PACK = "meshbridge-invariants"
HOST = ROOT / "tools/pulumi/pulumi_client_host.py"
PRELOAD = Path(__file__).resolve().parent / "skip_await.py"
# a line of the non-interactive progress display: op, type, name, state
PROGRESS = re.compile(
    r"^\s*[-+~]*\s*(?P<type>[\w.:/-]+:[\w./-]+:\w+)\s+(?P<name>\S+)\s+\**"
    r"(?P<state>creating|created|updating|updated|deleting|deleted|creating failed|deleting failed|updating failed)"
)

Key = tuple[str, str, str]  # (kind, namespace, name)
Objects = dict[Key, dict[str, Any]]


class E2eError(Exception):
    pass


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise E2eError(what)


class Env:
    """The tools, the folders and the environment of one e2e run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        # three builds at once when cold (their links are single-threaded); istiod's after the judge's,
        # whose packages it mostly shares (one Go build cache, no package compiled twice at once)
        builds = {
            "pulumi": self._start("build-pulumi.sh"),
            "verify": self._start("build-verify.sh", "build-istiod.sh"),
            "kube": self._start("build-kube.sh"),
        }
        try:
            tools = {name: self._finish(name, proc) for name, proc in builds.items()}
        finally:  # one failed: the others' Go builds do not outlive the run
            for proc in builds.values():
                if proc.poll() is None:
                    kill_tree(proc)
                    proc.wait()
        self.pulumi_bin = Path(tools["pulumi"][-1])
        self.verify, self.pilot_discovery, self.csr_client = tools["verify"][-3:]
        self.apiserver, self.controller_manager = tools["kube"][-2:]
        (work / "bin").mkdir(parents=True)
        # the analyzer of a Python policy pack: the Python SDK's own `pulumi.policy` entry point. The
        # CLI starts `pulumi-analyzer-policy-python ENGINE . -virtualenv=venv ...` in the pack's
        # folder; the runtime options are for pulumi-language-python, so only ENGINE and . are kept
        analyzer = work / "bin" / "pulumi-analyzer-policy-python"
        keep = 'set -- $(for a in "$@"; do case "$a" in -*) ;; *) printf "%s\\n" "$a";; esac; done)'
        analyzer.write_text(f'#!/bin/sh\n{keep}\nexec "{PY}" -u -m pulumi.policy "$@"\n')
        analyzer.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{work / 'bin'}:{self.pulumi_bin}:{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(work / "home"),
            "PULUMI_BACKEND_URL": (work / "state").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": "meshbridge-e2e",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_SUPPRESS_COPILOT_LINK": "true",
            # the program sets the provider config enablePatchForce (components/cluster.py); the
            # provider built here (module commit of 2026-01-15) predates that config key
            # (pulumi-kubernetes PR #4242, 2026-03) and reads only this variable, with the same effect.
            # check_patch_force makes sure the program asks for it.
            "PULUMI_K8S_ENABLE_PATCH_FORCE": "true",
        }
        (work / "state").mkdir()
        self.invocations: Counter[str] = Counter()

    @staticmethod
    def _start(*scripts: str) -> subprocess.Popen[str]:
        """tools/SCRIPT..., one after the other; their progress (minutes when the Go caches are cold)
        goes to our stderr, the paths they print to a pipe."""
        chain = " && ".join(f'bash "{ROOT / "tools" / script}"' for script in scripts)
        return subprocess.Popen(["bash", "-c", chain], stdout=subprocess.PIPE, text=True)

    @staticmethod
    def _finish(name: str, proc: subprocess.Popen[str]) -> list[str]:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise E2eError(f"the {name} build (tools/build-*.sh) failed (exit {proc.returncode}):\n{out}")
        return out.strip().splitlines()

    def provider_version(self) -> str:
        """The version pulumi-resource-kubernetes reports in its schema (build-pulumi.sh stamps the
        pulumi-kubernetes pin of requirements.txt), and the module commit it is built from."""
        binary = self.pulumi_bin / "pulumi-resource-kubernetes"
        schema = json.loads(self.pulumi(self.work, "package", "get-schema", str(binary)))
        gomod = (ROOT / "tools/pulumi/kubernetes/go.mod").read_text()
        pseudo = re.search(r"pulumi-kubernetes/provider/v4 v\S+-(\d{4})(\d\d)(\d\d)\d{6}-([0-9a-f]{12})", gomod)
        where = f"module commit {pseudo[4]} of {pseudo[1]}-{pseudo[2]}-{pseudo[3]}" if pseudo else "module ?"
        return f"{schema.get('version', '?')} (real, {where})"

    def command(self, cwd: Path, args: Iterable[str], program: bool) -> list[str]:
        cmd = ["pulumi", *args, "--non-interactive"]
        if program:
            self.invocations[cmd[1]] += 1
            return [PY, str(HOST), "--program", str(cwd), "--preload", str(PRELOAD), "--", *cmd]
        return cmd

    def pulumi(self, cwd: Path, *args: str, program: bool = False) -> str:
        """`pulumi ARGS` in `cwd`, which must succeed; `program` runs the Python program through the
        client host. Returns its standard output."""
        code, out, err = self.pulumi_status(cwd, *args, program=program)
        if code != 0:
            errors = "\n".join(error_lines(out + err)[:20])
            raise E2eError(f"`pulumi {' '.join(args)}` in {cwd} exited {code}:\n{errors}\n{(out + err)[-1500:]}")
        return out

    def pulumi_status(self, cwd: Path, *args: str, program: bool = False) -> tuple[int, str, str]:
        t0 = time.monotonic()
        done = subprocess.run(
            self.command(cwd, args, program), cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        if program:  # progress, to stderr
            print(f"e2e: pulumi {' '.join(args)}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        return done.returncode, done.stdout, done.stderr

    def start(self, cwd: Path, args: Iterable[str]) -> subprocess.Popen[str]:
        """`pulumi ARGS` on the program, started in a session of its own (kill_tree stops it), its
        output and errors on one pipe."""
        return subprocess.Popen(
            self.command(cwd, args, program=True),
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def pulumi_watch(
        self, cwd: Path, args: Iterable[str], on_progress: Callable[[re.Match[str], subprocess.Popen[str]], None]
    ) -> tuple[int, str]:
        """`pulumi ARGS` on the program, calling `on_progress` for every progress line while it runs.
        Whatever of it still runs afterwards is killed (kill_tree)."""
        proc = self.start(cwd, args)
        assert proc.stdout is not None
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line)
                m = PROGRESS.match(line)
                if m:
                    on_progress(m, proc)
            return proc.wait(), "".join(lines)
        finally:
            kill_tree(proc)
            proc.wait()
            proc.stdout.close()

    def charts(self) -> Path:
        """The charts of the Istio module the judge is built from, as base/ istiod/ gateway/."""
        go_env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}
        done = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio"],
            cwd=ROOT / "verify",
            env=go_env,
            capture_output=True,
            text=True,
            check=True,
        )
        module = Path(done.stdout.strip())
        charts = self.work / "charts"
        charts.mkdir()
        for name, sub in CHARTS.items():
            (charts / name).symlink_to(module / "manifests" / "charts" / sub)
        return charts


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(0), [])
        found += children
        todo += children
    return found


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a command and every process below it, by their ids: the engine starts each plugin
    (providers, analyzer) in a process group of its own, so killing the command's group alone would
    leave them running."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------- stack files


def e2e_stack(charts: Path, local: dict[str, Any]) -> dict[str, Any]:
    """Pulumi.local.yaml with local charts; cluster-a's kubeconfig is set as a secret afterwards
    (`set_kubeconfig`), cluster-b's comes from its infra stack."""
    doc = copy.deepcopy(local)
    cfg = doc["config"]
    cfg["meshbridge:mesh"]["istio"] = {"version": cfg["meshbridge:mesh"]["istio"]["version"]}
    cfg["meshbridge:mesh"]["istio"]["chartDirectory"] = str(charts)
    for c in cfg["meshbridge:clusters"]:
        c["kubernetes"] = {}
    b = cfg["meshbridge:clusters"][1]
    b["infraStack"] = {"name": INFRA["cluster-b"], "outputs": {"kubeconfig": "kubeconfig"}}
    return doc


def with_consumer_cluster(doc: dict[str, Any]) -> dict[str, Any]:
    """A third cluster that consumes backend-api: the "adding a consumer" change."""
    doc = copy.deepcopy(doc)
    cfg = doc["config"]
    cfg["meshbridge:clusters"].append(
        {
            "name": "cluster-c",
            "network": "network-c",
            "region": "us-east-1",
            "zone": "us-east-1c",
            "labels": {"mesh": "enabled"},
            "infraStack": {"name": INFRA["cluster-c"], "outputs": {"kubeconfig": "kubeconfig"}},
            "gateway": {"address": "172.18.255.240"},
        }
    )
    backend = next(s for s in cfg["meshbridge:services"] if s["name"] == "backend-api")
    backend["consumers"].append({"cluster": "cluster-c", "principals": ["default/reporter"], "methods": ["GET"]})
    return doc


def generated_stack(charts: Path, n: int) -> dict[str, Any]:
    """An n-cluster local mesh: cluster i exports svc-i, consumed by cluster i+1 (mod n)."""
    clusters, services = [], []
    for i in range(n):
        name = f"cluster-{i:02d}"
        clusters.append(
            {
                "name": name,
                "network": f"network-{i:02d}",
                "region": "us-east-1",
                "zone": "us-east-1a",
                "kubernetes": {},
                "gateway": {"address": f"172.18.{200 + i // 200}.{10 + i % 200}"},
            }
        )
        services.append(
            {
                "name": f"svc-{i:02d}",
                "namespace": "default",
                "exportedFrom": [name],
                "ports": [{"port": 8080, "name": "http", "protocol": "HTTP"}],
                "consumers": [{"cluster": f"cluster-{(i + 1) % n:02d}", "principals": ["default/client"]}],
            }
        )
    return {
        "config": {
            "pulumi:disable-default-providers": ["*"],
            "meshbridge:mesh": {
                "id": "mesh-gen",
                "connectivity": "local",
                "istio": {"version": "1.30.3", "chartDirectory": str(charts)},
            },
            "meshbridge:clusters": clusters,
            "meshbridge:services": services,
        }
    }


def program_copy(work: Path, name: str, doc: dict[str, Any]) -> Path:
    project = work / name
    project.mkdir()
    for item in PROGRAM:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, project / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, project / item)
    write_stack(project, doc)
    return project


def stack_file(project: Path) -> Path:
    return project / f"Pulumi.{MESH_STACK}.yaml"


def write_stack(project: Path, doc: dict[str, Any]) -> None:
    stack_file(project).write_text(yaml.safe_dump(doc, sort_keys=False))


def set_kubeconfigs(env: Env, project: Path, servers: dict[str, ApiServer], indexes: dict[str, int]) -> dict[str, Any]:
    """`pulumi config set --secret --path meshbridge:clusters[i].kubernetes.kubeconfig` for each
    cluster; returns the stack file as it is then (encrypted values and salt included)."""
    for cluster, i in indexes.items():
        path = f"meshbridge:clusters[{i}].kubernetes.kubeconfig"
        env.pulumi(project, "config", "set", "--secret", "--path", path, servers[cluster].kubeconfig_text())
    doc: dict[str, Any] = yaml.safe_load(stack_file(project).read_text())
    return doc


# ------------------------------------------------------------------------------------- synth


def synth(project: Path, out: Path, check: bool = True) -> list[dict[str, Any]]:
    """Synth (mock engine) on the e2e stack file; with `check`, the Istio judge too (which also
    renders the charts with Istio's Helm renderer into out/clusters/*/helm/*/rendered)."""
    cmd = [PY, "-m", "synth", "--stack", MESH_STACK, "--config-file", str(stack_file(project))]
    cmd += ["--out", str(out)] + (["--check"] if check else [])
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    expect(done.returncode == 0, f"synth{' --check' if check else ''} failed:\n{done.stdout}{done.stderr}")
    resources: list[dict[str, Any]] = json.loads((out / "resources.json").read_text())
    return resources


def load_yaml(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(path.read_text())
    return obj


def key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def synth_objects(out: Path) -> tuple[dict[str, Objects], dict[str, Objects]]:
    """cluster -> key -> object, for synth's own objects and for the judge's chart renders."""
    own: dict[str, Objects] = {}
    charts: dict[str, Objects] = {}
    for cluster in sorted((out / "clusters").iterdir()):
        for path in cluster.glob("*.yaml"):
            obj = load_yaml(path)
            own.setdefault(cluster.name, {})[key(obj)] = obj
        for path in cluster.glob("helm/*/rendered/*.yaml"):
            obj = load_yaml(path)
            charts.setdefault(cluster.name, {})[key(obj)] = obj
    return own, charts


class Expected:
    """What the API servers must hold for one stack file: synth's objects and the charts' objects."""

    def __init__(self, project: Path, out: Path) -> None:
        self.resources = synth(project, out)
        self.out = out
        self.own, self.charts = synth_objects(out)

    def objects(self, cluster: str) -> Objects:
        return {**self.charts.get(cluster, {}), **self.own.get(cluster, {})}

    def retained(self, cluster: str) -> set[Key]:
        """The objects Pulumi leaves in the cluster on delete: the base chart's CRDs (its
        `retain_crds` transform) and the resources synth recorded with `retainOnDelete` (the
        allow-nothing baseline AuthorizationPolicies: components/services.py)."""
        kept: set[Key] = set()
        for r in self.resources:
            inputs = r.get("inputs") or {}
            meta = inputs.get("metadata")
            if r.get("retainOnDelete") and isinstance(inputs.get("kind"), str) and isinstance(meta, dict):
                kept.add((inputs["kind"], meta.get("namespace") or "", meta.get("name", "")))
        return {k for k in self.objects(cluster) if k[0] == "CustomResourceDefinition" or k in kept}

    @property
    def chart_count(self) -> int:
        return sum(len(v) for v in self.charts.values())


# ------------------------------------------------------------------------- served vs. expected

QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
SUFFIX = {
    "": 1,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    **{s: 1024 ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def quantity(text: str) -> Decimal | None:
    m = QUANTITY.match(text)
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * Decimal(SUFFIX[m.group(2) or ""])
    except InvalidOperation:
        return None


def same_scalar(want: Any, got: Any) -> bool:
    if want == got:
        return True
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) and not isinstance(want, bool):
        return float(want) == float(got)
    if isinstance(want, str) and isinstance(got, str):
        # the API server writes resource quantities in canonical form (2048Mi -> 2Gi)
        a, b = quantity(want), quantity(got)
        return a is not None and a == b
    return False


def subset_problems(want: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` (served) does not hold `want` (declared). The API server adds defaults (fields
    that were not declared); it must not drop or change a declared one."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '.'}: declared a map, served {json.dumps(got)[:200]}"]
        out = []
        for k, v in want.items():
            if k not in got:
                if v not in (None, {}, [], ""):
                    out.append(f"{path}.{k}: declared {json.dumps(v)[:200]}, not served")
            else:
                out += subset_problems(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: declared {json.dumps(want)[:200]}, served {json.dumps(got)[:200]}"]
        return [
            p for i, (a, b) in enumerate(zip(want, got, strict=True)) for p in subset_problems(a, b, f"{path}[{i}]")
        ]
    if same_scalar(want, got):
        return []
    return [f"{path}: declared {json.dumps(want)[:200]}, served {json.dumps(got)[:200]}"]


def as_declared(obj: dict[str, Any]) -> dict[str, Any]:
    """A served object without the server's additions that we can name: status, server metadata, the
    e2e's skipAwait annotation; a Secret's values as synth shows them (`[secret]`, as stringData)."""
    obj = served(obj)
    meta = obj["metadata"]
    if obj.get("kind") == "Namespace":  # the API server labels every namespace with its name
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k != "kubernetes.io/metadata.name"}
        if not meta["labels"]:
            del meta["labels"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in OVERRIDES}
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    if obj.get("kind") == "Secret":
        data = obj.pop("data", None) or {}
        obj["stringData"] = dict.fromkeys(data, SECRET)
    return obj


def declared_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """synth's Secret with its keys as one stringData (the API server keeps only data)."""
    obj = copy.deepcopy(obj)
    keys = {**(obj.pop("data", None) or {}), **(obj.pop("stringData", None) or {})}
    obj["stringData"] = dict.fromkeys(keys, SECRET)
    return obj


def compare_object(what: str, want: dict[str, Any], live: dict[str, Any]) -> list[str]:
    got = as_declared(live)
    want = copy.deepcopy(want)
    # what the e2e's transform sets (tools/e2e/skip_await.py) is not compared
    meta = want.setdefault("metadata", {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in OVERRIDES}
    if not meta["annotations"]:
        del meta["annotations"]
    if want.get("kind") == "Secret":
        want = declared_secret(want)
    problems = subset_problems(want, got)
    # labels and annotations exactly: nothing of Pulumi's (or anyone's) added to ours
    for field in ("labels", "annotations"):
        a, b = want["metadata"].get(field) or {}, got["metadata"].get(field) or {}
        if a != b and not (field == "labels" and want["kind"] == "Job"):
            problems.append(f".metadata.{field}: declared {a}, served {b}")
    return [f"{what}: {p}" for p in problems]


def served_objects(kube: Kube) -> tuple[Objects, list[dict[str, Any]]]:
    """The objects Pulumi wrote (its field manager) that are not being deleted, by key; and every
    object the server holds."""
    everything = kube.list_all()
    ours = {key(o): o for o in everything if pulumi_managed(o) and not o["metadata"].get("deletionTimestamp")}
    return ours, everything


def check_served(servers: dict[str, ApiServer], expected: Expected, clusters: Iterable[str]) -> dict[str, Objects]:
    """The API servers hold exactly the expected objects (read back through the API), and each
    equals its declaration. Returns cluster -> key -> served object."""
    problems: list[str] = []
    found: dict[str, Objects] = {}
    for cluster in clusters:
        ours, _ = served_objects(servers[cluster].client())
        want = expected.objects(cluster)
        found[cluster] = ours
        problems += [f"{cluster}: {k} declared, not in the API server" for k in sorted(set(want) - set(ours))]
        problems += [
            f"{cluster}: {k} in the API server (by Pulumi), not declared" for k in sorted(set(ours) - set(want))
        ]
        for k in sorted(set(want) & set(ours)):
            problems += compare_object(f"{cluster} {k[0]} {k[1]}/{k[2]}", want[k], ours[k])
    expect(not problems, "the API servers differ from synth:\n" + "\n".join(problems[:30]))
    return found


def check_crds_first(servers: dict[str, ApiServer], found: dict[str, Objects]) -> int:
    """Every custom resource was created after its CRD was Established. Returns how many were checked."""
    checked = 0
    for cluster, objs in found.items():
        kube = servers[cluster].client()
        crds = {
            (o["spec"]["group"], o["spec"]["names"]["kind"]): o
            for o in kube.ok("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
        }
        for (kind, ns, name), obj in objs.items():
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            crd = crds.get((group, kind))
            if crd is None:
                continue
            established = [
                c
                for c in crd.get("status", {}).get("conditions", [])
                if c["type"] == "Established" and c["status"] == "True"
            ]
            expect(bool(established), f"{cluster}: CRD {crd['metadata']['name']} is not Established")
            at = established[0]["lastTransitionTime"]
            created = obj["metadata"]["creationTimestamp"]
            expect(created >= at, f"{cluster}: {kind} {ns}/{name} created at {created}, its CRD established at {at}")
            checked += 1
    return checked


def team_namespaces(expected: Expected) -> dict[str, set[str]]:
    """cluster -> the namespaces synth's objects live in that the program does not create: the
    services' namespaces, which the teams own (created empty in the API servers before `up`)."""
    out: dict[str, set[str]] = {}
    for cluster, objs in expected.own.items():
        made = {name for kind, _, name in objs if kind == "Namespace"}
        out[cluster] = {ns for _, ns, _ in objs if ns and ns not in made} - {"default"}
    return out


def create_namespaces(servers: dict[str, ApiServer], wanted: dict[str, set[str]]) -> None:
    for cluster, names in wanted.items():
        kube = servers[cluster].client()
        for name in sorted(names):
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            code, out = kube.create(ns)
            expect(code in (201, 409), f"{cluster}: creating namespace {name}: {code} {out}")


# ---------------------------------------------------------------------------------- the checks


def summary(preview_json: str) -> dict[str, int]:
    data = json.loads(preview_json)
    counts: dict[str, int] = data.get("changeSummary") or {}
    return counts


def steps(preview_json: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(preview_json).get("steps") or []
    return found


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    expect(done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def check_ca(work: Path, found: dict[str, Objects], root_output: str) -> str:
    """openssl verifies each cluster's cacerts as the API server holds it; returns what the
    intermediate's basicConstraints say."""
    constraints = ""
    for cluster, by_key in sorted(found.items()):
        secret = by_key.get(("Secret", "istio-system", "cacerts"))
        expect(secret is not None, f"{cluster}: the API server holds no cacerts Secret")
        assert secret is not None
        pems = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        folder = work / "ca" / cluster
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("root-cert.pem", "ca-cert.pem", "ca-key.pem", "cert-chain.pem"):
            expect(bool(pems.get(name)), f"{cluster}: cacerts has no {name}")
            (folder / name).write_text(pems[name])
        expect(
            pems["root-cert.pem"].strip() == root_output.strip(), f"{cluster}: root-cert.pem is not rootCertificatePem"
        )
        verified = openssl("verify", "-CAfile", str(folder / "root-cert.pem"), str(folder / "ca-cert.pem"))
        expect(verified.strip().endswith(": OK"), f"{cluster}: openssl verify: {verified}")
        cert_key = openssl("x509", "-in", str(folder / "ca-cert.pem"), "-noout", "-pubkey")
        key_pub = openssl("pkey", "-in", str(folder / "ca-key.pem"), "-pubout")
        expect(cert_key == key_pub, f"{cluster}: ca-key.pem is not the key of ca-cert.pem")
        chain = pems["cert-chain.pem"]
        expect(
            chain.startswith(pems["ca-cert.pem"].strip()), f"{cluster}: cert-chain.pem does not start with ca-cert.pem"
        )
        constraints = openssl("x509", "-in", str(folder / "ca-cert.pem"), "-noout", "-ext", "basicConstraints")
        # the root limits the path instead (docs/pki.md, "Why the root has pathlen:1")
        root = openssl("x509", "-in", str(folder / "root-cert.pem"), "-noout", "-ext", "basicConstraints")
        expect("pathlen:1" in root, f"{cluster}: the root's basicConstraints are {' '.join(root.split())}")
    return " ".join(constraints.split()[3:])


BAD_DESTINATION_RULE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": {"name": "e2e-must-be-refused", "namespace": "istio-system"},
    "spec": {"host": "x.example", "trafficPolicy": {"loadBalancer": {"simple": "FASTEST"}}},
}


def check_refuses_invalid(servers: dict[str, ApiServer], clusters: Iterable[str]) -> None:
    """The API servers judge: the DestinationRule CRD's schema refuses `loadBalancer.simple: FASTEST`."""
    for cluster in clusters:
        code, out = servers[cluster].client().create(BAD_DESTINATION_RULE, dry_run=True)
        expect(code == 422, f"{cluster}: the API server took an invalid DestinationRule ({code} {out})")


def judge_served(env: Env, work: Path, expected: Expected, found: dict[str, Objects]) -> str:
    """The Istio judge on synth's tree with synth's objects replaced by what the API servers hold."""
    judged = work / "judged"
    shutil.rmtree(judged, ignore_errors=True)
    shutil.copytree(expected.out, judged)
    for cluster, by_key in found.items():
        folder = judged / "clusters" / cluster
        for path in folder.glob("*.yaml"):
            path.unlink()
        for k, live in by_key.items():
            if k not in expected.own.get(cluster, {}):
                continue
            obj = served(live)
            # the annotations as declared (the e2e's transform set some: tools/e2e/skip_await.py)
            obj["metadata"].pop("annotations", None)
            declared = expected.own[cluster][k]["metadata"].get("annotations")
            if declared:
                obj["metadata"]["annotations"] = declared
            if obj["kind"] == "Secret":
                obj["stringData"] = {n: base64.b64decode(v).decode() for n, v in (obj.pop("data", None) or {}).items()}
            kind, ns, name = k
            (folder / f"{kind.lower()}.{ns or '_'}.{name}.yaml").write_text(yaml.safe_dump(obj))
    done = subprocess.run([env.verify, "judge", str(judged)], capture_output=True, text=True, check=False)
    expect(done.returncode == 0, f"the Istio judge refused what the API servers hold:\n{done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def export(env: Env, project: Path, show: bool = False) -> dict[str, Any]:
    out = env.pulumi(project, "stack", "export", "--stack", MESH_STACK, *(["--show-secrets"] if show else []))
    deployment: dict[str, Any] = json.loads(out)["deployment"]
    return deployment


def state_objects(deployment: dict[str, Any]) -> dict[str, set[Key]]:
    """cluster -> the Kubernetes objects the state holds (from each resource's outputs), by the
    provider that owns them; fails on a URN or an object held twice or a pending operation."""
    resources = deployment.get("resources") or []
    urns = Counter(r["urn"] for r in resources)
    twice = [u for u, n in urns.items() if n > 1]
    expect(not twice, f"the state holds a resource twice: {twice[:5]}")
    pending = deployment.get("pending_operations") or []
    expect(not pending, f"the state has pending operations: {[p['resource']['urn'] for p in pending][:5]}")
    providers = {
        f"{r['urn']}::{r['id']}": r["urn"].split("::")[-1].removesuffix("-k8s")
        for r in resources
        if r["type"] == "pulumi:providers:kubernetes"
    }
    out: dict[str, set[Key]] = {}
    for r in resources:
        if not r["type"].startswith("kubernetes:") or not r.get("custom") or r["type"].startswith("pulumi:"):
            continue
        cluster = providers.get(r.get("provider", ""), "?")
        outputs = r.get("outputs") or {}
        meta = outputs.get("metadata") or {}
        k = (outputs.get("kind", ""), meta.get("namespace") or "", meta.get("name", ""))
        expect(k not in out.get(cluster, set()), f"{cluster}: the state holds {k} twice")
        out.setdefault(cluster, set()).add(k)
    return out


def check_no_orphans(
    env: Env, project: Path, servers: dict[str, ApiServer], clusters: Iterable[str], expected: Expected
) -> int:
    """What the state holds is what the API servers hold (by Pulumi), object for object: nothing
    orphaned (served, not in state) and nothing lost (in state, not served); the only objects of
    Pulumi's that the state may lack are the retained CRDs. Returns the count."""
    held = state_objects(export(env, project))
    total = 0
    for cluster in clusters:
        ours, _ = served_objects(servers[cluster].client())
        in_state = held.get(cluster, set())
        orphans = set(ours) - in_state - expected.retained(cluster)
        expect(
            not orphans and in_state <= set(ours),
            f"{cluster}: served but not in state {sorted(orphans)[:5]}; "
            f"in state but not served {sorted(in_state - set(ours))[:5]}",
        )
        total += len(in_state)
    return total


def error_lines(output: str) -> list[str]:
    """The error lines of a pulumi command's output, each once, with the line after each (where the
    provider puts the cause)."""
    lines = output.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if "error:" in line or "conflict" in line:
            for text in (line.strip(), lines[i + 1].strip() if i + 1 < len(lines) else ""):
                if text and text not in found:
                    found.append(text)
    return found


def check_patch_force(deployment: dict[str, Any]) -> int:
    """Every Kubernetes provider in state was configured by the program with enablePatchForce (see
    PULUMI_K8S_ENABLE_PATCH_FORCE in Env). Returns how many."""
    providers = [r for r in deployment.get("resources") or [] if r["type"] == "pulumi:providers:kubernetes"]
    for r in providers:
        value = (r.get("inputs") or {}).get("enablePatchForce")
        expect(str(value).lower() == "true", f"{r['urn']}: enablePatchForce is {value!r}")
    return len(providers)


# ------------------------------------------------------------------------------------- the run


def start_servers(env: Env, work: Path, names: Iterable[str]) -> dict[str, ApiServer]:
    """One API server per cluster; if one does not start, those already started are stopped."""
    servers = {c: ApiServer(env.apiserver, c, work / "kube" / c) for c in names}
    try:
        for server in servers.values():
            server.start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def infra_stacks(env: Env, work: Path, servers: dict[str, ApiServer]) -> Path:
    """One infra stack per cluster in INFRA, exporting that cluster's kubeconfig as a secret."""
    infra = work / "infra"
    shutil.copytree(ROOT / "tools/e2e/infra", infra, ignore=shutil.ignore_patterns("__pycache__"))
    for cluster, stack in INFRA.items():
        text = servers[cluster].kubeconfig_text()
        env.pulumi(infra, "stack", "init", stack)
        env.pulumi(infra, "config", "set", "--secret", "kubeconfig", text, "--stack", stack)
        env.pulumi(infra, "up", "--yes", "--skip-preview", "--stack", stack, program=True)
        hidden = env.pulumi(infra, "stack", "output", "kubeconfig", "--stack", stack)
        shown = env.pulumi(infra, "stack", "output", "kubeconfig", "--show-secrets", "--stack", stack)
        expect(hidden.strip() == SECRET, f"infra {cluster}: `stack output kubeconfig` shows {hidden.strip()!r}")
        expect(shown.strip() == text.strip(), f"infra {cluster}: `stack output --show-secrets` is not the kubeconfig")
    return infra


def run(work: Path) -> str:
    env = Env(work)
    charts = env.charts()
    servers = start_servers(env, work, CLUSTERS)
    try:
        return run_with(env, work, charts, servers)
    finally:
        for server in servers.values():
            server.stop()


def run_with(env: Env, work: Path, charts: Path, servers: dict[str, ApiServer]) -> str:
    t_start = time.monotonic()
    infra = infra_stacks(env, work, servers)

    # the mesh stack: synth first (mock engine and Istio judge), then the real engine
    local = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())
    project = program_copy(work, "mesh", e2e_stack(charts, local))
    env.pulumi(project, "stack", "init", MESH_STACK)
    doc = set_kubeconfigs(env, project, servers, {"cluster-a": 0})
    expected = Expected(project, work / "synth")
    added_doc = with_consumer_cluster(doc)
    write_stack(project, added_doc)
    added = Expected(project, work / "synth-added")
    write_stack(project, doc)
    create_namespaces(servers, team_namespaces(added))

    t0 = time.monotonic()
    preview = env.pulumi(project, "preview", "--json", program=True)
    t_preview = time.monotonic() - t0
    n = summary(preview).get("create", 0)
    # synth's StackReferences are reads on the real engine
    reads = sum(1 for r in expected.resources if r["type"] == STACK_REFERENCE)
    created = len(expected.resources) - reads
    want = created + 1 + expected.chart_count  # + the Stack resource + one child per chart object
    read = sum(1 for s in steps(preview) if s["op"] == "read")
    # and they are synth's resources by URN: synth names every resource as the real engine does
    real = {
        s["urn"] for s in steps(preview) if "::pulumi:pulumi:Stack::" not in s["urn"] and CHART_CHILD not in s["urn"]
    }
    mocked = {r["urn"] for r in expected.resources}
    expect(
        real == mocked,
        f"real URNs synth lacks: {sorted(real - mocked)[:5]}; synth URNs the engine lacks: {sorted(mocked - real)[:5]}",
    )
    expect(
        n == want and read == reads,
        f"preview creates {n} resources and reads {read}; synth registers {created} "
        f"and {reads} stack references, plus the stack and {expected.chart_count} chart objects = {want}",
    )
    t0 = time.monotonic()
    up = env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    t_up = time.monotonic() - t0
    done_up = re.search(r"\+ (\d+) created", up)
    expect(done_up is not None and int(done_up.group(1)) == n, f"up did not report {n} created:\n{up[-600:]}")
    deployment = export(env, project)
    resources = deployment["resources"]
    check_patch_force(deployment)
    # state: what was created, the stack references and the engine's builtin provider that reads them
    expect(
        len(resources) == n + reads + (1 if reads else 0),
        f"after up the state holds {len(resources)} resources, the preview created {n} and read {reads}",
    )

    # what the API servers hold = synth's objects + the charts' objects, object for object
    two = ("cluster-a", "cluster-b")
    found = check_served(servers, expected, two)
    crs = check_crds_first(servers, found)
    objects = check_no_orphans(env, project, servers, two, expected)
    check_refuses_invalid(servers, two)
    judge_line = judge_served(env, work, expected, found)
    skipped = Counter(o["kind"] for objs in found.values() for o in objs.values() if SKIP_AWAIT in obj_annotations(o))

    outputs = json.loads(env.pulumi(project, "stack", "output", "--json", "--show-secrets"))
    plain_outputs = json.loads(env.pulumi(project, "stack", "output", "--json"))
    expect(outputs == plain_outputs, "a mesh stack output is a secret (docs/outputs.md: none is)")
    pathlen = check_ca(work, found, outputs["rootCertificatePem"])

    # private keys and the kubeconfigs are secrets in state
    hidden_state = json.dumps(export(env, project))
    shown_state = json.dumps(export(env, project, show=True))
    expect(
        "PRIVATE KEY" not in hidden_state, "a private key is readable in `pulumi stack export` without --show-secrets"
    )
    expect("PRIVATE KEY" in shown_state, "`pulumi stack export --show-secrets` shows no private key")
    for cluster in two:
        token = Kube.from_kubeconfig(servers[cluster].kubeconfig_text()).token
        expect(token not in hidden_state, f"{cluster}'s kubeconfig is readable in state without --show-secrets")
        expect(token in shown_state, f"{cluster}'s kubeconfig did not reach its provider")

    # a second up changes nothing, and the policy pack judges it (its preview): every rule runs
    policy = str(project / "policy")
    t0 = time.monotonic()
    up2 = env.pulumi(project, "up", "--yes", "--expect-no-changes", "--policy-pack", policy, program=True)
    t_up2 = time.monotonic() - t0
    expect(f"{n} unchanged" in up2, f"the second up did not report {n} unchanged:\n{up2[-800:]}")
    expect(POLICY_PACK in up2, f"the policy pack did not run on the second up:\n{up2[-800:]}")
    cant = [line.strip() for line in up2.splitlines() if "can't run policy" in line]
    expect(not cant, "policies skipped on the preview:\n" + "\n".join(cant[:10]))
    # and it refuses an unprotected root CA key
    unprotected = copy.deepcopy(doc)
    unprotected["config"]["meshbridge:ca"]["protectRoot"] = False
    write_stack(project, unprotected)
    code, out, err = env.pulumi_status(project, "preview", "--policy-pack", policy, program=True)
    write_stack(project, doc)
    refused = out + err
    expect(
        code != 0 and "root-ca-key-protected" in refused and "mandatory" in refused.lower(),
        f"the policy pack did not refuse an unprotected root key:\n{refused[-800:]}",
    )
    # a network rename without its migration flag: refused from the stack's own outputs (the real
    # engine's readStackOutputs: stacks/migration.py), before any resource
    renamed = copy.deepcopy(doc)
    renamed["config"]["meshbridge:clusters"][1]["network"] = "network-x"
    write_stack(project, renamed)
    code, out, err = env.pulumi_status(project, "preview", program=True)
    write_stack(project, doc)
    gate = "meshbridge:clusters[1].network: renaming cluster-b's network from network-b to network-x"
    expect(code != 0 and gate in out + err, f"a network rename was not refused:\n{(out + err)[-800:]}")

    # adding a consumer: exactly synth's predicted creates and updates, no replacement, no delete
    write_stack(project, added_doc)
    before = {r["urn"]: r for r in expected.resources}
    after = {r["urn"]: r for r in added.resources}
    creates_want = {u for u in set(after) - set(before) if after[u]["type"] != STACK_REFERENCE}
    reads_want = {u for u in set(after) - set(before) if after[u]["type"] == STACK_REFERENCE}
    updates_want = {u for u in set(after) & set(before) if after[u].get("inputs") != before[u].get("inputs")}
    plan = steps(env.pulumi(project, "preview", "--json", program=True))
    by_op: dict[str, set[str]] = {}
    for s in plan:
        by_op.setdefault(s["op"], set()).add(s["urn"])
    bad = {op: sorted(u) for op, u in by_op.items() if op not in ("create", "update", "same", "read")}
    expect(not bad, f"adding a consumer previews {bad}")
    chart_children = {u for u in by_op.get("create", set()) if CHART_CHILD in u}
    expect(reads_want <= by_op.get("read", set()), f"adding a consumer does not read {sorted(reads_want)}")
    expect(
        by_op.get("create", set()) - chart_children == creates_want,
        f"adding a consumer: creates {sorted(by_op.get('create', set()) - chart_children - creates_want)} "
        f"that synth does not predict, misses {sorted(creates_want - by_op.get('create', set()))}",
    )
    updates = by_op.get("update", set()) - {u for u in by_op.get("update", set()) if u.endswith("::meshbridge-e2e")}
    expect(
        updates == updates_want, f"adding a consumer updates {sorted(updates)}, synth predicts {sorted(updates_want)}"
    )

    # fault 1: the engine is killed in the middle of the up that adds cluster-c
    interrupted = fault_interrupted_up(env, project, servers, added)
    # fault 2: drift: objects we own edited by hand
    fault_drift(env, project, servers, added)
    # fault 3: cluster-c's API server is down for a whole up that changes every cluster
    dead = fault_dead_cluster(env, project, servers, added_doc, added)
    # fault 4: cluster-c's API server stops in the middle of the up that removes cluster-c again
    write_stack(project, doc)
    fault_outage(env, project, servers, expected, added)
    print(
        f"e2e faults: interrupted up resumed ({interrupted}), drift restored, {dead}, "
        "api server outage in a removal recovered",
        flush=True,
    )

    # examples/consumer reads the mesh stack through a real StackReference (in render mode)
    consumer = work / "consumer"
    shutil.copytree(ROOT / "examples/consumer", consumer, ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"))
    env.pulumi(consumer, "stack", "init", "e2e")
    for k, v in {
        "meshStack": f"organization/meshbridge/{MESH_STACK}",
        "cluster": "cluster-a",
        "kubeContext": "kind-cluster-a",
        "renderYamlToDirectory": str(work / "render-consumer"),
    }.items():
        env.pulumi(consumer, "config", "set", f"mesh-consumer:{k}", v)
    env.pulumi(consumer, "config", "set", "--path", "pulumi:disable-default-providers[0]", "*")
    env.pulumi(consumer, "up", "--yes", "--skip-preview", program=True)
    consumer_out = json.loads(env.pulumi(consumer, "stack", "output", "--json"))
    this = outputs["clusters"]["cluster-a"]
    expect(consumer_out.get("network") == this["network"], f"consumer: network {consumer_out.get('network')!r}")
    expect(consumer_out.get("importedHosts") == sorted(this["importedHosts"]), "consumer: importedHosts differ")
    bundle = load_yaml(work / "render-consumer/1-manifest/v1-configmap-vm-workloads-mesh-trust-bundle.yaml")
    expect(bundle["data"]["root-cert.pem"] == outputs["rootCertificatePem"], "consumer: trust bundle is not the root")

    # destroy: everything but the protected root CA (and what holds it)
    env.pulumi(consumer, "destroy", "--yes", "--skip-preview", program=True)
    expect(not list((work / "render-consumer").rglob("*.yaml")), "consumer destroy left rendered manifests")
    env.pulumi(project, "destroy", "--yes", "--skip-preview", "--exclude-protected", program=True)
    left = export(env, project)["resources"]
    protected = sorted(r["type"] for r in left if r.get("protect"))
    expect(
        protected == ["tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert"],
        f"after destroy the protected resources are {protected}",
    )
    kinds = {r["type"] for r in left}
    expect(not any(t.startswith("kubernetes:") and "providers" not in t for t in kinds), f"destroy left {kinds}")
    terminating = check_destroyed(servers, {c: added.retained(c) for c in CLUSTERS})
    for stack in INFRA.values():
        env.pulumi(infra, "destroy", "--yes", "--skip-preview", "--stack", stack, program=True)

    wall = time.monotonic() - t_start
    print(
        f"e2e: policy pack {POLICY_PACK}: every rule ran on the real preview; protectRoot: false is refused; "
        "a network rename without mesh.migration is refused from the stack's own outputs"
    )
    print(f"e2e: judge on what the API servers hold: {judge_line}")
    kube = re.search(r"k8s\.io/kubernetes (v\S+)", (ROOT / "tools/kube/go.mod").read_text())
    print(
        f"e2e: kube-apiserver {kube.group(1) if kube else '?'}: {objects} objects of ours in cluster-a and "
        f"cluster-b equal synth's, {crs} custom resources created after their CRD was Established, "
        f"an invalid DestinationRule refused; pulumi.com/skipAwait (e2e only) on "
        f"{', '.join(f'{n} {k}' for k, n in sorted(skipped.items()))}; after destroy only {terminating}"
    )
    print(f"e2e: intermediate CA basicConstraints: {pathlen} (no pathlen:0; the root has pathlen:1)")
    calls = ", ".join(f"{n} {c}" for c, n in sorted(env.invocations.items()))
    print(
        f"e2e: times: preview {t_preview:.1f} s, up {t_up:.1f} s, second up {t_up2:.1f} s ({n} resources); "
        f"whole run {wall:.0f} s, program runs: {calls}"
    )
    return (
        f"e2e: pulumi-kubernetes {env.provider_version()}, preview {n}, up {n} against "
        f"{len(servers)} API servers, second up 0 changes, destroy ok"
    )


def obj_annotations(obj: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = obj["metadata"].get("annotations") or {}
    return found


def check_destroyed(servers: dict[str, ApiServer], kept: dict[str, set[Key]]) -> str:
    """After destroy the API servers hold nothing Pulumi wrote but what is retained on delete (the
    base chart's CRDs, the allow-nothing baselines: Expected.retained) and namespaces marked for
    deletion (no namespace controller runs to finalize them). Returns what is left, in words."""
    left: Counter[str] = Counter()
    for cluster, server in servers.items():
        for obj in server.client().list_all():
            if not pulumi_managed(obj):
                continue
            k = key(obj)
            if k in kept.get(cluster, set()):
                left[f"{k[0]} (retained)"] += 1
                continue
            deleting = obj["metadata"].get("deletionTimestamp")
            expect(obj["kind"] == "Namespace" and bool(deleting), f"{cluster}: destroy left {k}")
            left[f"Namespace {obj['metadata']['name']} (Terminating)"] += 1
    return ", ".join(f"{n} {what}" for what, n in sorted(left.items())) or "nothing"


def fault_interrupted_up(env: Env, project: Path, servers: dict[str, ApiServer], added: Expected) -> str:
    """SIGKILL the engine (the CLI, the providers and the program: every process of the run, by id)
    while the up that adds cluster-c is creating cluster-c's objects; then docs/runbook.md "An
    interrupted `pulumi up`": cancel the stale lock, refresh clearing pending creates, up. It must
    converge to the objects of an uninterrupted run (synth's), none duplicated or orphaned."""
    created: list[str] = []

    def kill_after_some(m: re.Match[str], proc: subprocess.Popen[str]) -> None:
        if m["state"] == "created" and m["name"].startswith("cluster-c") and m["type"].startswith("kubernetes:"):
            created.append(m["name"])
            if len(created) == 8:
                kill_tree(proc)

    code, out = env.pulumi_watch(project, ["up", "--yes", "--skip-preview"], kill_after_some)
    expect(code == -signal.SIGKILL, f"the up to interrupt was not killed (exit {code}):\n{out[-1500:]}")
    emptied = empty_sidecars(env)
    raw = json.loads(env.pulumi(project, "stack", "export", "--stack", MESH_STACK))["deployment"]
    pending = [p["resource"]["urn"].split("::")[-1] for p in raw.get("pending_operations") or []]
    # the next up refuses while the killed one's lock is there
    code, out, err = env.pulumi_status(project, "up", "--yes", "--skip-preview", program=True)
    expect(code != 0 and "locked" in out + err, f"an up after the kill did not stop on the lock:\n{(out + err)[-800:]}")
    env.pulumi(project, "cancel", "--yes")
    env.pulumi(project, "refresh", "--yes", "--skip-preview", "--clear-pending-creates", program=True)
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    check_served(servers, added, CLUSTERS)
    count = check_no_orphans(env, project, servers, CLUSTERS, added)
    check_sidecar_step(env, project)
    sidecar = f", the kill emptied {', '.join(emptied)}: removed (runbook)" if emptied else ""
    return (
        f"killed after {len(created)} of cluster-c's objects, {len(pending)} pending{sidecar}, "
        f"{count} objects converged"
    )


def check_sidecar_step(env: Env, project: Path) -> None:
    """The runbook's step for an emptied checkpoint sidecar, whether or not this run's kill emptied
    one: with `<stack>.json.attrs` empty every command fails with "failed to load checkpoint: EOF";
    once `empty_sidecars` removed it, the checkpoint reads whole again."""
    (attrs,) = (env.work / "state" / ".pulumi").rglob(f"{MESH_STACK}.json.attrs")
    attrs.write_bytes(b"")
    code, out, err = env.pulumi_status(project, "stack", "export", "--stack", MESH_STACK)
    expect(
        code != 0 and "failed to load checkpoint: EOF" in out + err,
        f"an empty {attrs.name} did not stop `pulumi stack export` as the runbook says (exit {code}): {err[-300:]}",
    )
    expect(empty_sidecars(env) == [attrs.name], f"the runbook step did not remove the empty {attrs.name}")
    raw = json.loads(env.pulumi(project, "stack", "export", "--stack", MESH_STACK))["deployment"]
    expect(not raw.get("pending_operations"), "the checkpoint read after the sidecar's removal has pending operations")


def empty_sidecars(env: Env) -> list[str]:
    """docs/runbook.md "An interrupted `pulumi up`", step 2: a file backend writes a checkpoint's
    metadata sidecar `<stack>.json.attrs` in place (gocloud's fileblob: create, then write) before it
    renames the new checkpoint into place; a kill between the two leaves it empty, and every command
    then fails with "failed to load checkpoint: EOF". The checkpoint itself is whole (the last one
    renamed into place); the empty sidecar is removed, as the runbook says. Returns their names."""
    removed = []
    for attrs in sorted((env.work / "state" / ".pulumi").rglob("*.attrs")):
        if attrs.stat().st_size == 0:
            attrs.unlink()
            removed.append(attrs.name)
    return removed


def fault_drift(env: Env, project: Path, servers: dict[str, ApiServer], added: Expected) -> None:
    """Edit two objects we own by hand (a label of cluster-a's east-west gateway Service, a key of
    cluster-b's cacerts Secret): refresh and preview show both as drift, up restores them."""
    a, b = servers["cluster-a"].client(), servers["cluster-b"].client()
    label = "topology.istio.io/network"
    a.merge_patch(
        "v1", "Service", "istio-system", "istio-eastwestgateway", {"metadata": {"labels": {label: "elsewhere"}}}
    )
    forged = base64.b64encode(b"not the root\n").decode()
    b.merge_patch("v1", "Secret", "istio-system", "cacerts", {"data": {"root-cert.pem": forged}})
    env.pulumi(project, "refresh", "--yes", "--skip-preview", program=True)
    plan = steps(env.pulumi(project, "preview", "--json", program=True))
    changed = {s["urn"].split("::")[-1]: s["op"] for s in plan if s["op"] not in ("same", "read")}
    drifted = {n: op for n, op in changed.items() if "istio-eastwestgateway" in n or "cacerts" in n}
    expect(
        any("istio-eastwestgateway" in n for n in drifted) and any("cacerts" in n for n in drifted),
        f"refresh + preview do not show the drift: {changed}",
    )
    expect(set(changed) == set(drifted), f"the preview after the drift changes more: {changed}")
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    check_served(servers, added, CLUSTERS)
    svc = a.get("v1", "Service", "istio-system", "istio-eastwestgateway") or {}
    expect(svc["metadata"]["labels"].get(label) == "network-a", f"the label is not restored: {svc['metadata']}")
    secret = b.get("v1", "Secret", "istio-system", "cacerts") or {}
    expect(secret["data"]["root-cert.pem"] != forged, "the cacerts key is not restored")


# the provider's warning for an object of a cluster it cannot reach (`skipUpdateUnreachable`), as the
# Diagnostics section of a pulumi command prints it: `  <type> (<name>):` then the warning
SKIPPED = re.compile(
    r"^\s+(?P<type>[\w.:/-]+) \((?P<name>[^)]+)\):\n\s+warning: Cluster is unreachable but skipUpdateUnreachable",
    re.MULTILINE,
)


def peer_authentication_mode(server: ApiServer) -> str:
    found = server.client().get("security.istio.io/v1", "PeerAuthentication", "istio-system", "default") or {}
    return str(found.get("spec", {}).get("mtls", {}).get("mode"))


def fault_dead_cluster(
    env: Env, project: Path, servers: dict[str, ApiServer], added_doc: dict[str, Any], added: Expected
) -> str:
    """Issue 26: cluster-c's API server is down for a whole `up` that changes every cluster (mesh
    mTLS STRICT -> PERMISSIVE: each cluster's PeerAuthentication `default`). The up succeeds:
    cluster-a and cluster-b are updated in it, and every object of cluster-c is skipped with the
    provider's warning (none of another cluster). With the server back (same data) cluster-c still
    has the old mode, and the next up updates it. The stack file is then restored."""
    server = servers["cluster-c"]
    changed = copy.deepcopy(added_doc)
    changed["config"]["meshbridge:mesh"]["mtls"] = "PERMISSIVE"
    write_stack(project, changed)
    server.stop()
    code, out, err = env.pulumi_status(project, "up", "--yes", "--skip-preview", program=True)
    server.start()
    expect(code == 0, f"an up with cluster-c's API server down failed:\n{(out + err)[-2000:]}")
    skipped = {m["name"] for m in SKIPPED.finditer(out + err)}
    expect(bool(skipped), f"the up warns of no skipped object:\n{(out + err)[-1500:]}")
    expect(all(n.startswith("cluster-c") for n in skipped), f"objects of other clusters skipped: {sorted(skipped)}")
    expect(
        {"cluster-c-mesh-peer-authentication", "cluster-c-istiod:istio-system/istiod"} <= skipped,
        f"cluster-c's PeerAuthentication or istiod chart not among the skipped: {sorted(skipped)[:10]}",
    )
    modes = {c: peer_authentication_mode(servers[c]) for c in CLUSTERS}
    expect(
        modes == {"cluster-a": "PERMISSIVE", "cluster-b": "PERMISSIVE", "cluster-c": "STRICT"},
        f"after the up with cluster-c down: {modes}",
    )
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    caught_up = peer_authentication_mode(server)
    expect(caught_up == "PERMISSIVE", f"cluster-c after its server is back and an up: {caught_up}")
    write_stack(project, added_doc)
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    check_served(servers, added, CLUSTERS)
    return (
        f"an up with cluster-c down updated cluster-a and cluster-b and skipped {len(skipped)} objects of "
        "cluster-c, updated by the next up"
    )


def fault_outage(env: Env, project: Path, servers: dict[str, ApiServer], expected: Expected, added: Expected) -> None:
    """Stop cluster-c's API server in the middle of the up that removes cluster-c from the mesh
    (after its first object is deleted): the up fails naming cluster-c, cluster-a's and cluster-b's
    objects are intact; with the server started again (same data), a later up completes."""
    server = servers["cluster-c"]

    def stop_on_first_delete(m: re.Match[str], proc: subprocess.Popen[str]) -> None:
        if m["state"] == "deleted" and m["name"].startswith("cluster-c") and server.running:
            server.stop()

    code, out = env.pulumi_watch(project, ["up", "--yes", "--skip-preview"], stop_on_first_delete)
    expect(not server.running, f"the up never deleted an object of cluster-c:\n{out[-1500:]}")
    errors = error_lines(out)
    expect(code != 0, f"the up went through with cluster-c's API server stopped:\n{out[-1500:]}")
    # each error is about a resource of cluster-c (its name starts with the cluster's) or its API
    # server's address; at least one names a resource of cluster-c
    address = Kube.from_kubeconfig(server.kubeconfig_text()).server
    named = [m["name"] for m in map(PROGRESS.match, errors) if m]
    expect(any(n.startswith("cluster-c") for n in named), "the failed up names no resource of cluster-c")
    others = [
        line
        for line in errors
        if "error:" in line
        and not line.endswith("error: update failed")
        and not ((m := PROGRESS.match(line)) and m["name"].startswith("cluster-c"))
        and address not in line
    ]
    expect(not others, "the failed up has other errors:\n" + "\n".join(others[:10]))
    # cluster-a and cluster-b: each object is the one of either stack file (the up may have updated)
    for cluster in ("cluster-a", "cluster-b"):
        ours, _ = served_objects(servers[cluster].client())
        want_old, want_new = added.objects(cluster), expected.objects(cluster)
        both, either = set(want_old) & set(want_new), set(want_old) | set(want_new)
        expect(
            both <= set(ours) <= either,
            f"{cluster} after the outage: {sorted(both - set(ours))[:5]} missing, "
            f"{sorted(set(ours) - either)[:5]} unexpected",
        )
        for k, live in ours.items():
            bad = [compare_object(cluster, w[k], live) for w in (want_old, want_new) if k in w]
            expect(any(not b for b in bad), f"{cluster}: {k} changed by the failed up: {bad}")
    server.start()
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    check_served(servers, expected, ("cluster-a", "cluster-b"))
    left, _ = served_objects(server.client())
    kept = set(left) & added.retained("cluster-c")
    expect(set(left) == kept, f"cluster-c still holds {sorted(set(left) - kept)[:5]}")
    check_no_orphans(env, project, servers, CLUSTERS, added)


def timing(work: Path, n: int) -> str:
    env = Env(work)
    charts = env.charts()
    names = [f"cluster-{i:02d}" for i in range(n)]
    servers = start_servers(env, work, names)
    try:
        project = program_copy(work, "mesh", generated_stack(charts, n))
        env.pulumi(project, "stack", "init", MESH_STACK)
        set_kubeconfigs(env, project, servers, {c: i for i, c in enumerate(names)})
        times = []
        for args in (("preview", "--json"), ("up", "--yes", "--skip-preview"), ("up", "--yes", "--expect-no-changes")):
            t0 = time.monotonic()
            out = env.pulumi(project, *args, program=True)
            times.append(time.monotonic() - t0)
            if args[0] == "preview":
                count = summary(out).get("create", 0)
        took = f"preview {times[0]:.1f} s, up {times[1]:.1f} s, second up {times[2]:.1f} s"
        return f"e2e timing: {n} clusters ({n} API servers), {count} resources: {took}"
    finally:
        for server in servers.values():
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (it holds throwaway keys)")
    parser.add_argument("--clusters", type=int, help="time preview and up of a generated N-cluster local mesh")
    parser.add_argument(
        "--phase",
        choices=("all", "main", "istiod", "aws"),
        default="all",
        help="main: the local stack, its changes and faults; istiod: a real istiod per primary (tools/e2e/istiod.py); "
        "aws: the deployed stack files with AWS on moto (tools/e2e/aws.py)",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="meshbridge-e2e-"))
    try:
        if args.clusters:
            print(timing(work, args.clusters), flush=True)
            return 0
        if args.phase in ("all", "main"):
            print(run(work / "main"), flush=True)
        if args.phase in ("all", "istiod"):
            sys.modules.setdefault("run", sys.modules[__name__])  # istiod.py uses this module's parts
            from istiod import phase

            print(phase(work / "istiod"), flush=True)
        if args.phase in ("all", "aws"):
            sys.modules.setdefault("run", sys.modules[__name__])  # aws.py uses this module's parts
            from aws import phase as aws_phase

            print(aws_phase(work / "aws"), flush=True)
        return 0
    except (E2eError, KubeError) as exc:
        print(f"e2e FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"e2e: work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
