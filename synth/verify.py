"""`python -m synth.verify OUT_DIR`: judge a synth output tree with Istio's own code.

The judge is the Go program in verify/ (built by tools/build-verify.sh from the pinned istio.io/istio
module, cached outside the work tree). For each cluster of the tree it renders Istio's real base,
istiod and gateway charts (and cert-manager's, from its pinned module: synth/charts.py) with the
values meshbridge passes (into
clusters/<cluster>/helm/<release>/rendered/), checks the chart facts the mesh relies on, runs
`istioctl validate` and `istioctl analyze` (offline), and lets Istio's pilot compute the Envoy
configuration of every declared path (docs/architecture.md, "Verification"). Exit 0 when every
check holds, 1 with one FAIL line per broken link, 2 when the judge cannot run.

To see what pilot was given, set MESHBRIDGE_VERIFY_DEBUG to a directory: the judge writes each
cluster's Istio and Kubernetes objects (stand-ins included) there, and a stack trace on a panic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from synth.charts import CHARTS, ChartUnavailableError, prepare

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = PROJECT_DIR / "tools" / "build-verify.sh"
ACCEPTED = PROJECT_DIR / "verify" / "accepted-analysis.yaml"


class JudgeUnavailableError(RuntimeError):
    """The judge could not be built (no Go, or the module proxy refused a module)."""


def judge_binary() -> Path:
    """Path of the built judge; builds it on first use (cached by source version)."""
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise JudgeUnavailableError(f"tools/build-verify.sh failed:\n{proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


def extra_charts(out: Path) -> dict[str, dict[str, str]]:
    """The charts other than Istio's that the tree's releases name, as the judge's MESHBRIDGE_CHARTS
    reads them: cert-manager's and aws-privateca-issuer's, prepared from their pinned modules
    (synth/charts.py)."""
    charts: dict[str, dict[str, str]] = {}
    releases = [f"\n{release.read_text()}" for release in sorted(out.glob("clusters/*/helm/*.yaml"))]
    for spec in CHARTS:
        if any(f"\nchart: {spec.name}\n" in text for text in releases):
            charts[spec.name] = {"dir": str(prepare(spec, spec.version) / "chart"), "version": spec.version}
    return charts


def judge_env(out: Path) -> dict[str, str]:
    """The judge's environment for the tree `out`: the accepted analysis, the charts besides Istio's."""
    env = dict(os.environ, MESHBRIDGE_ACCEPTED_ANALYSIS=str(ACCEPTED))
    try:
        charts = extra_charts(out)
    except ChartUnavailableError as exc:
        raise JudgeUnavailableError(str(exc)) from None
    if charts:
        env["MESHBRIDGE_CHARTS"] = json.dumps(charts)
    return env


def run_judge(out: Path) -> subprocess.CompletedProcess[str]:
    """Run the judge on a synth output directory; its report is in stdout (and verify-report.txt)."""
    env = judge_env(out)
    return subprocess.run(
        [str(judge_binary()), "judge", str(out)], capture_output=True, text=True, env=env, timeout=1800
    )


def judge_and_report(out: Path, prog: str) -> int:
    """Run the judge and pass its report through: its exit code, or 2 when it cannot run."""
    try:
        proc = run_judge(out)
    except JudgeUnavailableError as exc:
        print(f"{prog}: the Istio judge is unavailable: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m synth.verify OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    if not (out / "judge.json").is_file():
        print(f"synth.verify: {out} is not a synth output directory (no judge.json)", file=sys.stderr)
        return 2
    return judge_and_report(out, "synth.verify")


if __name__ == "__main__":
    sys.exit(main())
