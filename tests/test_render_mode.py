"""Render mode and local charts (what `make e2e` runs on the real engine, docs/e2e.md): the config keys
`kubernetes.renderYamlToDirectory` and `mesh.istio.chartDirectory` on the real program through synth,
and the render-only Kubernetes provider (tools/pulumi/render_provider.py) on its own.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2

from synth.engine import SynthResult, redact
from synth.render import helm_releases
from tests.conftest import run_variant

PROJECT = Path(__file__).resolve().parent.parent
CHART = "kubernetes:helm.sh/v4:Chart"


def _load_provider() -> Any:
    spec = importlib.util.spec_from_file_location("render_provider", PROJECT / "tools/pulumi/render_provider.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rp = _load_provider()


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


# ------------------------------------------------------------------------ the render-only provider


def call(coroutine: Any) -> Any:
    """Run one servicer call on a loop of its own (asyncio.run would unset the loop that the
    Pulumi runtime of the other tests uses)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


SECRET = {rp.SIG_KEY: rp.SECRET_SIG, "value": "c2VjcmV0"}
SECRET_OBJ = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cacerts", "namespace": "istio-system"}}


def test_plain_unwraps_secrets_and_keeps_whole_numbers_integers() -> None:
    obj = {**SECRET_OBJ, "data": {"k": SECRET}, "spec": {"port": 8080.0, "ratio": 0.5}}
    assert rp.plain(obj) == {**SECRET_OBJ, "data": {"k": "c2VjcmV0"}, "spec": {"port": 8080, "ratio": 0.5}}


def test_manifests_land_in_crd_and_manifest_folders(tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.io"}}
    assert rp.manifest_path(str(tmp_path), crd) == str(
        tmp_path / "0-crd/apiextensions.k8s.io_v1-customresourcedefinition-x.io.yaml"
    )
    assert rp.manifest_path(str(tmp_path), SECRET_OBJ) == str(
        tmp_path / "1-manifest/v1-secret-istio-system-cacerts.yaml"
    )


def test_a_rename_replaces_and_a_label_updates() -> None:
    old = {**SECRET_OBJ, "data": {"k": SECRET}}
    same = rp.RenderServicer._diff(old, dict(old), rp.REPLACE_KEYS)
    assert same.changes == rp.proto.DiffResponse.DIFF_NONE
    labelled = {**old, "metadata": {**old["metadata"], "labels": {"a": "b"}}}
    update = rp.RenderServicer._diff(old, labelled, rp.REPLACE_KEYS)
    assert (update.changes, list(update.diffs), list(update.replaces)) == (
        rp.proto.DiffResponse.DIFF_SOME,
        ["metadata"],
        [],
    )
    renamed = {**old, "metadata": {**old["metadata"], "name": "other"}}
    assert list(rp.RenderServicer._diff(old, renamed, rp.REPLACE_KEYS).replaces) == ["metadata.name"]
    # a changed secret value is a change (compared unwrapped)
    changed = {**old, "data": {"k": {**SECRET, "value": "b3RoZXI="}}}
    assert rp.RenderServicer._diff(old, changed, rp.REPLACE_KEYS).changes == rp.proto.DiffResponse.DIFF_SOME


def test_a_provider_without_a_render_directory_is_refused() -> None:
    servicer = rp.RenderServicer(rp.ChartProvider(), "127.0.0.1:1")
    request = rp.proto.CheckRequest(news=struct({"context": "kind-a"}))
    response = call(servicer.CheckConfig(request, None))
    assert [f.property for f in response.failures] == ["renderYamlToDirectory"]
    ok = call(servicer.CheckConfig(rp.proto.CheckRequest(news=struct({"renderYamlToDirectory": "/x"})), None))
    assert not ok.failures


def test_create_update_delete_write_and_remove_the_file(tmp_path: Path) -> None:
    servicer = rp.RenderServicer(rp.ChartProvider(), "127.0.0.1:1")
    servicer.directory = str(tmp_path)
    obj = {**SECRET_OBJ, "data": {"k": SECRET}}
    created = call(servicer.Create(rp.proto.CreateRequest(properties=struct(obj)), None))
    assert created.id == "istio-system/cacerts"
    path = tmp_path / "1-manifest/v1-secret-istio-system-cacerts.yaml"
    assert "c2VjcmV0" in path.read_text()
    # outputs are the inputs, the secret still wrapped (it stays a secret in state)
    assert dict(created.properties)["data"]["k"][rp.SIG_KEY] == rp.SECRET_SIG
    renamed = {**obj, "metadata": {**obj["metadata"], "name": "cacerts-2"}}
    call(servicer.Update(rp.proto.UpdateRequest(olds=struct(obj), news=struct(renamed)), None))
    assert not path.exists()
    moved = tmp_path / "1-manifest/v1-secret-istio-system-cacerts-2.yaml"
    assert moved.exists()
    call(servicer.Delete(rp.proto.DeleteRequest(properties=struct(renamed)), None))
    assert not moved.exists()


@pytest.mark.parametrize(
    ("api_version", "kind", "token"),
    [
        ("v1", "Service", "kubernetes:core/v1:Service"),
        ("networking.istio.io/v1", "Gateway", "kubernetes:networking.istio.io/v1:Gateway"),
    ],
)
def test_chart_children_get_pulumi_kubernetes_type_tokens(api_version: str, kind: str, token: str) -> None:
    assert rp.child_type({"apiVersion": api_version, "kind": kind}) == token
