"""synth's diff (the pull-request comment) shows renames: a URN that disappears without an alias is a
deletion, even when every rendered object stays byte-identical (pulumi/pulumi-kubernetes#2948)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pulumi
import pytest

from stacks import names
from stacks.config.model import ServiceSpec
from synth.diff import render, urn_section
from synth.engine import SynthResult, run_program
from synth.render import write_tree

OLD_EXPORT = "urn:pulumi:staging::meshbridge::meshbridge:cluster:MeshCluster$meshbridge:services:ServiceExport::"


def _renamed_export(cluster: str, namespace: str, service: str) -> str:
    return f"{cluster}-exported-{namespace}-{service}"


def _run_renamed(monkeypatch: pytest.MonkeyPatch, with_alias: bool) -> SynthResult:
    """Staging with the ServiceExport name format changed, with or without `aliases` to the old name."""
    import stacks.services

    current = names.export_component

    def alias_to_current(cfg: object, s: ServiceSpec, old: str) -> list[pulumi.Alias]:
        if "-export-" not in old:
            return []  # an import: not renamed here
        return [pulumi.Alias(name=current(old.removesuffix(f"-export-{s.name}"), s.namespace, s.name))]

    monkeypatch.setattr(names, "export_component", _renamed_export)
    monkeypatch.setattr(stacks.services, "renamed", alias_to_current if with_alias else lambda cfg, s, old: [])
    result = run_program("staging")
    monkeypatch.undo()
    assert result.ok, result.errors
    return result


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "staging"
    result = run_program("staging")
    assert result.ok, result.errors
    write_tree(result, out)
    return out


def _sections(text: str) -> dict[str, str]:
    parts = text.split("\n### ")[1:]
    return {p.split("\n", 1)[0].split(" (")[0]: p.split("\n", 1)[1] for p in parts}


def test_synth_diff_flags_a_rename_without_aliases(
    base_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = tmp_path / "head"
    write_tree(_run_renamed(monkeypatch, with_alias=False), head)
    text = render(base_tree, head, "synth diff: staging")
    sections = _sections(text)
    # every rendered object, release and AWS input is unchanged: only the URNs show the rename
    for title in ("Kubernetes objects", "Helm releases", "AWS and other resource inputs"):
        assert sections[title].strip() == "no change", title
    urns = sections["Resources added / removed by URN"]
    assert "removed without an alias: `pulumi up` deletes them" in urns
    assert f"- {OLD_EXPORT}cluster-b-export-default-backend-api\n" in urns
    assert f"+ {OLD_EXPORT}cluster-b-exported-default-backend-api\n" in urns


def test_synth_diff_shows_a_rename_with_aliases_as_renamed(
    base_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = tmp_path / "head"
    write_tree(_run_renamed(monkeypatch, with_alias=True), head)
    urns = _sections(render(base_tree, head, "synth diff: staging"))["Resources added / removed by URN"]
    assert "without an alias" not in urns and "\n- urn:" not in urns
    assert f"~ {OLD_EXPORT}cluster-b-export-default-backend-api\n" in urns
    assert f"renamed with an alias to {OLD_EXPORT}cluster-b-exported-default-backend-api" in urns


def test_synth_diff_names_the_kubernetes_object_a_rename_would_delete(base_tree: Path, tmp_path: Path) -> None:
    """Same object (provider, kind, namespace, name) under a new URN and no alias: the deletion the
    Kubernetes provider does under server-side apply, spelled out."""
    head = tmp_path / "head"
    shutil.copytree(base_tree, head)
    entries = json.loads((head / "resources.json").read_text())
    tgb = next(e for e in entries if e["inputs"].get("kind") == "TargetGroupBinding")
    old_urn = tgb["urn"]
    tgb["urn"] = old_urn.replace("-tgb", "-binding")
    tgb["name"] = tgb["name"].replace("-tgb", "-binding")
    (head / "resources.json").write_text(json.dumps(entries, indent=2, sort_keys=True))
    sections = _sections(render(base_tree, head, "t"))
    assert sections["Kubernetes objects"].strip() == "no change"
    urns = sections["Resources added / removed by URN"]
    assert "**rename without `aliases`**: the TargetGroupBinding `istio-system/istio-eastwestgateway`" in urns
    assert f"- {old_urn}\n" in urns

    # the same rename with the old name as an alias deletes nothing
    tgb["aliases"] = [old_urn.rsplit("::", 1)[1]]
    (head / "resources.json").write_text(json.dumps(entries, indent=2, sort_keys=True))
    assert "without" not in urn_section(base_tree, head)


def test_synth_diff_urn_section_without_change(base_tree: Path) -> None:
    assert urn_section(base_tree, base_tree) == "### Resources added / removed by URN\n\nno change\n"
