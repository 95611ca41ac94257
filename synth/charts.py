"""Charts and CRDs of the projects meshbridge installs besides Istio, from their pinned Go modules.

cert-manager's chart and CRDs are in its Go module (`deploy/charts/cert-manager`, `deploy/crds`),
which the Go module proxy serves; the chart's `Chart.yaml` is made by cert-manager's release tool
from `Chart.template.yaml` (version and appVersion `v0.0.0`, a prerelease placeholder), which is
what `prepare` does here. The result is cached outside the work tree, one folder per version:

    <cache>/charts/cert-manager-<version>/chart/   the chart, as `helm template` takes it
    <cache>/charts/cert-manager-<version>/crds/    the CRDs (cert-manager.io_certificates.yaml, ...)

`<cache>` is $MESHBRIDGE_CACHE or ~/.cache/meshbridge (as tools/build-go.sh). The judge renders the
chart from there (synth/verify.py passes the folder), and tests/validators.py checks cert-manager
objects against the CRDs. Needs Go, and the module proxy once per version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from stacks.config.model import CERT_MANAGER_VERSION

CERT_MANAGER_MODULE = "github.com/cert-manager/cert-manager"


class ChartUnavailableError(RuntimeError):
    """The module could not be downloaded (no Go, or the proxy refused it)."""


def cache_root() -> Path:
    return Path(os.environ.get("MESHBRIDGE_CACHE") or Path.home() / ".cache" / "meshbridge")


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy files only (the module cache is read-only; its modes are not kept)."""
    for root, _dirs, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(Path(root) / f, target / f)


def chart_yaml(template: str, version: str) -> str:
    """Chart.yaml from cert-manager's Chart.template.yaml, as its release tool fills it in."""
    lines = []
    for line in template.splitlines():
        if line.startswith("version: "):
            line = f"version: {version}"
        elif line.startswith("appVersion: "):
            line = f"appVersion: {version}"
        lines.append(line.replace("{{IS_PRERELEASE}}", "true" if "-" in version else "false"))
    return "\n".join(lines) + "\n"


def cert_manager(version: str = CERT_MANAGER_VERSION) -> Path:
    """The folder holding `chart/` and `crds/` of cert-manager `version` (prepared on first use)."""
    target = cache_root() / "charts" / f"cert-manager-{version}"
    if (target / "chart" / "Chart.yaml").is_file():
        return target
    try:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", f"{CERT_MANAGER_MODULE}@{version}"],
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChartUnavailableError(f"go mod download {CERT_MANAGER_MODULE}@{version}: {exc}") from None
    if proc.returncode != 0:
        raise ChartUnavailableError(
            f"go mod download {CERT_MANAGER_MODULE}@{version}: {(proc.stdout + proc.stderr).strip()}"
        )
    deploy = Path(json.loads(proc.stdout)["Dir"]) / "deploy"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        _copy_tree(deploy / "charts" / "cert-manager", tmp / "chart")
        _copy_tree(deploy / "crds", tmp / "crds")
        template = tmp / "chart" / "Chart.template.yaml"
        (tmp / "chart" / "Chart.yaml").write_text(chart_yaml(template.read_text(), version))
        template.unlink()
        try:
            os.rename(tmp, target)  # atomic: a concurrent run that won keeps its own copy
        except OSError:
            if not (target / "chart" / "Chart.yaml").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
