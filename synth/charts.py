"""Charts and CRDs of the projects meshbridge installs besides Istio, from their pinned Go modules.

- cert-manager's chart and CRDs are in its Go module (`deploy/charts/cert-manager`, `deploy/crds`),
  which the Go module proxy serves; the chart's `Chart.yaml` is made by cert-manager's release tool
  from `Chart.template.yaml` (version and appVersion `v0.0.0`, a prerelease placeholder).
- aws-privateca-issuer's chart is in its Go module (`charts/aws-pca-issuer`, CRDs in its `crds/`);
  its release workflow (.github/workflows/on-release.yml) publishes it with chart and app version
  set to the release tag, while the tagged `Chart.yaml` keeps an older number (v1.9.2 at v1.11.0).

`prepare` sets version and appVersion as each release does. The result is cached outside the work
tree, one folder per chart and version:

    <cache>/charts/<chart>-<version>/chart/   the chart, as `helm template` takes it
    <cache>/charts/<chart>-<version>/crds/    the CRDs (cert-manager.io_certificates.yaml, ...)

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
from dataclasses import dataclass
from pathlib import Path

from stacks.config.model import AWS_PCA_ISSUER_VERSION, CERT_MANAGER_VERSION


@dataclass(frozen=True)
class ModuleChart:
    """A chart in a Go module: where its folder and CRDs are, which file its Chart.yaml comes from."""

    name: str  # the chart's name, as a release names it
    module: str
    version: str  # the version meshbridge pins
    chart_dir: str  # in the module
    crds_dir: str  # in the module
    chart_yaml: str  # in chart_dir: the file the release makes Chart.yaml from


CERT_MANAGER = ModuleChart(
    "cert-manager",
    "github.com/cert-manager/cert-manager",
    CERT_MANAGER_VERSION,
    "deploy/charts/cert-manager",
    "deploy/crds",
    "Chart.template.yaml",
)
AWS_PCA_ISSUER = ModuleChart(
    "aws-privateca-issuer",
    "github.com/cert-manager/aws-privateca-issuer",
    AWS_PCA_ISSUER_VERSION,
    "charts/aws-pca-issuer",
    "charts/aws-pca-issuer/crds",
    "Chart.yaml",
)
CHARTS = (CERT_MANAGER, AWS_PCA_ISSUER)
CERT_MANAGER_MODULE = CERT_MANAGER.module


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
    return prepare(CERT_MANAGER, version)


def aws_pca_issuer(version: str = AWS_PCA_ISSUER_VERSION) -> Path:
    """The folder holding `chart/` and `crds/` of aws-privateca-issuer `version`."""
    return prepare(AWS_PCA_ISSUER, version)


def prepare(spec: ModuleChart, version: str) -> Path:
    """The folder holding `chart/` and `crds/` of `spec` at `version` (prepared on first use)."""
    target = cache_root() / "charts" / f"{spec.name}-{version}"
    if (target / "chart" / "Chart.yaml").is_file():
        return target
    ref = f"{spec.module}@{version}"
    try:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", ref],
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChartUnavailableError(f"go mod download {ref}: {exc}") from None
    if proc.returncode != 0:
        raise ChartUnavailableError(f"go mod download {ref}: {(proc.stdout + proc.stderr).strip()}")
    module = Path(json.loads(proc.stdout)["Dir"])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        _copy_tree(module / spec.chart_dir, tmp / "chart")
        _copy_tree(module / spec.crds_dir, tmp / "crds")
        source = tmp / "chart" / spec.chart_yaml
        text = chart_yaml(source.read_text(), version)
        source.unlink()
        (tmp / "chart" / "Chart.yaml").write_text(text)
        try:
            os.rename(tmp, target)  # atomic: a concurrent run that won keeps its own copy
        except OSError:
            if not (target / "chart" / "Chart.yaml").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
