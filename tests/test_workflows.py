"""The GitHub workflows carry the pull-request flow: tests, synth diff comment, preview, gated deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from synth.diff import MARKER, render
from synth.engine import run_program
from synth.render import write_tree
from tests.conftest import PROJECT, run_variant, stacks

WORKFLOWS = PROJECT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(action)]


def index_of(job: dict[str, Any], pred) -> int:  # type: ignore[no-untyped-def]
    return next(i for i, s in enumerate(steps(job)) if pred(s))


def test_every_workflow_parses_and_names_known_stacks() -> None:
    files = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert files == ["deploy.yml", "preview.yml", "pull-request.yml", "synth-diff-comment.yml"]
    for name in files:
        doc = load(name)
        assert doc["on"] and doc["jobs"], name


def test_pull_request_runs_make_test_then_synth_diff_without_credentials() -> None:
    doc = load("pull-request.yml")
    assert "pull_request" in doc["on"]
    assert doc["permissions"] == {"contents": "read"}  # works on forks: no write token, no id-token
    test = doc["jobs"]["test"]
    assert any(s.get("run") == "make test" for s in steps(test))
    diff = doc["jobs"]["synth-diff"]
    assert diff["needs"] == "test"
    script = "\n".join(str(s.get("run", "")) for s in steps(diff))
    assert "-m synth --stack" in script and "-m synth.diff" in script
    assert "base.sha" in str(steps(diff)) and uses(diff, "actions/upload-artifact")
    assert "aws-actions" not in str(doc)


def test_comment_workflow_updates_one_comment_with_write_token() -> None:
    doc = load("synth-diff-comment.yml")
    assert doc["on"]["workflow_run"]["workflows"] == ["pull-request"]
    assert doc["permissions"]["pull-requests"] == "write"
    job = doc["jobs"]["comment"]
    script = uses(job, "actions/github-script")[0]["with"]["script"]
    assert MARKER in script and "updateComment" in script and "createComment" in script
    assert not uses(job, "actions/checkout"), "the comment job must not run the pull request's code"


def test_preview_per_stack_with_policy_pack_oidc_and_s3_backend() -> None:
    doc = load("preview.yml")
    assert "pull_request" in doc["on"]
    assert doc["permissions"]["pull-requests"] == "write"
    assert doc["permissions"]["id-token"] == "write"
    job = doc["jobs"]["preview"]
    # every deployed environment is previewed (the example stack files are rendered by make test)
    deployed = sorted(
        j["with"]["stack-name"] for j in (uses(x, "pulumi/actions")[0] for x in load("deploy.yml")["jobs"].values())
    )
    assert sorted(job["strategy"]["matrix"]["stack"]) == deployed
    assert set(deployed) <= set(stacks())
    action = uses(job, "pulumi/actions")[0]
    assert action["with"]["command"] == "preview"
    assert action["with"]["stack-name"] == "${{ matrix.stack }}"
    assert action["with"]["comment-on-pr"] is True
    assert action["with"]["policyPacks"] == "policy"
    assert "PULUMI_BACKEND_URL" in action["with"]["cloud-url"]
    assert "PULUMI_BACKEND_URL" in str(job["env"])
    at = index_of(job, lambda s: str(s.get("uses", "")).startswith("pulumi/actions"))
    assert index_of(job, lambda s: str(s.get("uses", "")).startswith("actions/setup-python")) < at
    assert index_of(job, lambda s: "requirements.txt" in str(s.get("run", ""))) < at
    creds = index_of(job, lambda s: str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials"))
    assert creds < at and "role-to-assume" in steps(job)[creds]["with"]


def test_deploy_on_main_staging_before_production_behind_environments() -> None:
    doc = load("deploy.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"]["id-token"] == "write"
    jobs = doc["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"
    assert jobs["production"]["needs"] == "staging"
    for name in ("staging", "production"):
        action = uses(jobs[name], "pulumi/actions")[0]["with"]
        assert action["command"] == "up" and action["stack-name"] == name and action["policyPacks"] == "policy"
        assert name in stacks()


def test_synth_diff_shows_object_helm_and_aws_changes(tmp_path: Path) -> None:
    base = run_program("staging")
    head = run_variant(
        tmp_path,
        lambda c: c["meshbridge:services"][0]["ports"].__setitem__(
            0, {"port": 9090, "name": "http", "protocol": "HTTP"}
        ),
    )
    assert head.ok, head.errors
    write_tree(base, tmp_path / "base")
    write_tree(head, tmp_path / "head")
    text = render(tmp_path / "base", tmp_path / "head", "synth diff: staging")
    assert text.startswith(MARKER)
    k8s = text.split("### Kubernetes objects")[1].split("### Helm releases")[0]
    assert "+" in k8s and "9090" in k8s
    assert "no change" in render(tmp_path / "base", tmp_path / "base", "same")
