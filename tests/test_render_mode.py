"""Render mode and local charts on the real program through synth: the config keys
`kubernetes.renderYamlToDirectory` (pulumi-kubernetes writes the manifests to a folder and reaches no
cluster) and `mesh.istio.chartDirectory` (`make e2e` takes Istio's charts from the pinned Istio
module that way, docs/e2e.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.engine import SynthResult, redact
from synth.render import helm_releases
from tests.conftest import run_variant

PROJECT = Path(__file__).resolve().parent.parent
CHART = "meshbridge:helm:Chart"


def chart_folder(tmp_path: Path, charts: tuple[str, ...] = ("base", "istiod", "gateway")) -> Path:
    folder = tmp_path / "charts"
    for name in charts:
        (folder / name).mkdir(parents=True)
        (folder / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.30.3\n")
    return folder


def render_variant(tmp_path: Path, charts: Path) -> SynthResult:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["istio"] = {"version": "1.30.3", "chartDirectory": str(charts)}
        for c in cfg["meshbridge:clusters"]:
            c["kubernetes"] = {"renderYamlToDirectory": str(tmp_path / "render" / c["name"])}

    return run_variant(tmp_path, mutate, stack="local")


def test_render_directory_and_local_charts_reach_the_providers_and_charts(tmp_path: Path) -> None:
    charts = chart_folder(tmp_path)
    result = render_variant(tmp_path, charts)
    assert result.ok, result.errors
    providers = {r.name: redact(r.inputs) for r in result.registrations if r.type == "pulumi:providers:kubernetes"}
    assert {n: p.get("renderYamlToDirectory") for n, p in providers.items()} == {
        f"cluster-{x}-k8s": str(tmp_path / "render" / f"cluster-{x}") for x in "ab"
    }
    # no context and no kubeconfig: the provider reaches no cluster
    assert all("context" not in p and "kubeconfig" not in p for p in providers.values())
    inputs = [redact(r.inputs) for r in result.registrations if r.type == CHART]
    assert sorted({i["chart"] for i in inputs}) == [str(charts / c) for c in ("base", "gateway", "istiod")]
    assert not [i for i in inputs if "repositoryOpts" in i]
    # synth records the chart by name (what the Istio judge renders) and the folder as its source
    releases = [r for by_file in helm_releases(result).values() for r in by_file.values()]
    assert sorted({(r["chart"], r["repository"]) for r in releases}) == [
        (c, str(charts)) for c in ("base", "gateway", "istiod")
    ]


def test_a_repository_release_is_recorded_as_before(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda cfg: None, stack="local")
    releases = [r for by_file in helm_releases(result).values() for r in by_file.values()]
    assert {(r["chart"], r["repository"]) for r in releases} == {
        (c, "https://istio-release.storage.googleapis.com/charts") for c in ("base", "gateway", "istiod")
    }


def test_a_chart_folder_without_the_three_charts_is_refused(tmp_path: Path) -> None:
    charts = chart_folder(tmp_path, charts=("base",))
    result = render_variant(tmp_path, charts)
    assert not result.ok
    assert any(
        "meshbridge:mesh.istio.chartDirectory:" in e and "istiod/Chart.yaml, gateway/Chart.yaml" in e
        for e in result.errors
    ), result.errors
    assert not result.registrations


def test_chart_folder_and_repository_together_are_refused(tmp_path: Path) -> None:
    charts = chart_folder(tmp_path)

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["istio"]["chartDirectory"] = str(charts)

    result = run_variant(tmp_path, mutate, stack="local")
    assert not result.ok
    assert any("meshbridge:mesh.istio: give either repository or chartDirectory" in e for e in result.errors)


def test_a_cluster_without_any_kubernetes_access_names_render_mode(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:clusters"][0]["kubernetes"] = {}

    result = run_variant(tmp_path, mutate, stack="local")
    assert not result.ok
    assert any(
        e.startswith("meshbridge:clusters[0].kubernetes: no Kubernetes access") and "renderYamlToDirectory" in e
        for e in result.errors
    ), result.errors


def test_adding_a_chart_folder_does_not_rerun_deployed_checks(tmp_path: Path) -> None:
    """The check Jobs' fingerprint ignores chartDirectory while it is unset (no churn on upgrade)."""
    base = run_variant(tmp_path, lambda cfg: None, stack="local")
    names = sorted(
        redact(r.inputs)["metadata"]["name"] for r in base.registrations if r.type == "kubernetes:batch/v1:Job"
    )
    # the names (fingerprints) Pulumi.local.yaml's checks had before chartDirectory existed
    assert names == ["mb-check-backend-api-8080-18e101eaae", "mb-check-hello-8080-a2e1ed0e47"]
