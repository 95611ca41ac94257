"""The offline render: determinism, the tree it writes, explicit providers, secrets, placeholders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synth.engine import SECRET, SynthResult, run_program
from synth.render import write_tree
from tests.conftest import PROJECT, stacks

# resources that are not created on a provider of ours: providers themselves and stack references
PROVIDERLESS = ("pulumi:providers:", "pulumi:pulumi:StackReference")


def _synth(args: list[str], cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synth", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_runs_give_byte_identical_trees(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _synth(["--stack", "staging", "--out", str(a)]).returncode == 0
    assert _synth(["--stack", "staging", "--out", str(b)]).returncode == 0
    ta, tb = _tree(a), _tree(b)
    assert ta.keys() == tb.keys()
    assert [k for k in ta if ta[k] != tb[k]] == []
    assert {"resources.json", "outputs.json", "topology.mmd"} <= ta.keys()


def test_rerun_into_the_same_directory_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _synth(["--stack", "staging", "--out", str(out)]).returncode == 0
    (out / "clusters" / "stale.yaml").write_text("old")
    assert _synth(["--stack", "staging", "--out", str(out)]).returncode == 0
    assert not (out / "clusters" / "stale.yaml").exists()


def test_refuses_to_overwrite_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    proc = _synth(["--stack", "staging", "--out", str(tmp_path)])
    assert proc.returncode != 0
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_config_file_outside_the_project(tmp_path: Path) -> None:
    stack_file = tmp_path / "elsewhere" / "Pulumi.preprod.yaml"
    stack_file.parent.mkdir()
    shutil.copy(PROJECT / "Pulumi.staging.yaml", stack_file)
    out = tmp_path / "out"
    proc = _synth(["--stack", "preprod", "--config-file", str(stack_file), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    resources = json.loads((out / "resources.json").read_text())
    assert any("::meshbridge-preprod" in r["parent"] for r in resources)
    assert (out / "clusters" / "cluster-a").is_dir()


def test_missing_stack_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = _synth(["--stack", "nope", "--out", str(tmp_path / "o")])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("stack", stacks())
def test_every_resource_has_an_explicit_provider(stack: str) -> None:
    doc = yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())
    assert doc["config"]["pulumi:disable-default-providers"] == ["*"]
    result = run_program(stack)
    assert result.ok, result.errors
    provider_urns = {r.urn for r in result.registrations if r.type.startswith("pulumi:providers:")}
    custom = [r for r in result.registrations if r.custom and not r.type.startswith(PROVIDERLESS)]
    assert custom, "nothing registered"
    missing = [r.urn for r in custom if r.provider not in provider_urns]
    assert missing == []
    remote = [r for r in result.registrations if r.remote]
    assert [r.urn for r in remote if not set(r.providers.values()) & provider_urns] == []


def test_every_cluster_has_its_own_providers(staging: SynthResult) -> None:
    aws = {r.name: r.inputs for r in staging.by_type("pulumi:providers:aws")}
    assert aws["cluster-a-aws"]["region"] == "us-east-1"
    assert aws["cluster-b-aws"]["region"] == "us-west-2"
    # provider inputs reach the engine JSON-encoded, as provider configuration does
    assert json.loads(aws["cluster-a-aws"]["allowedAccountIds"]) == ["111111111111"]
    assert (
        json.loads(aws["cluster-a-aws"]["assumeRoles"])[0]["roleArn"] == "arn:aws:iam::111111111111:role/mesh-deployer"
    )
    # cluster-b is outside the deployer's account too (meshbridge:aws.deployerAccountId)
    assert (
        json.loads(aws["cluster-b-aws"]["assumeRoles"])[0]["roleArn"] == "arn:aws:iam::222222222222:role/mesh-deployer"
    )
    k8s = {r.name: r.inputs for r in staging.by_type("pulumi:providers:kubernetes")}
    # a stable identity: a kubeconfig change updates the provider instead of replacing every object
    assert k8s["cluster-a-k8s"]["clusterIdentifier"] == "cluster-a"
    assert k8s["cluster-a-k8s"]["context"] == "cluster-a"
    assert k8s["cluster-b-k8s"]["clusterIdentifier"] == "cluster-b"


def test_infra_stack_values_are_placeholders_without_stack_outputs(staging: SynthResult) -> None:
    refs = staging.by_type("pulumi:pulumi:StackReference")
    assert [r.name for r in refs] == ["infra-acme-eks-platform-staging-us-west-2"]
    k8s = {r.name: r.inputs for r in staging.by_type("pulumi:providers:kubernetes")}
    kubeconfig = k8s["cluster-b-k8s"]["kubeconfig"]
    from synth.engine import redact

    assert redact(kubeconfig) == SECRET


def test_stack_outputs_file_feeds_stack_references_and_secrets_stay_redacted(tmp_path: Path) -> None:
    kubeconfig = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: very-secret-token-123}}]\n"
    outputs = {
        "acme/eks-platform/staging-us-west-2": {
            "vpcId": "vpc-0b0b0b0b0b0b0b0b0",
            "vpcCidr": "10.11.0.0/16",
            "privateSubnetIds": ["subnet-0b0b0b0b0b0b0b0b1", "subnet-0b0b0b0b0b0b0b0b2"],
            "kubeconfig": kubeconfig,
        }
    }
    (tmp_path / "refs.json").write_text(json.dumps(outputs))
    out = tmp_path / "out"
    proc = _synth(["--stack", "staging", "--stack-outputs", str(tmp_path / "refs.json"), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "very-secret-token-123" not in text + proc.stdout
    resources = json.loads((out / "resources.json").read_text())
    ref = next(r for r in resources if r["type"] == "pulumi:pulumi:StackReference")
    assert ref["inputs"]["name"] == "acme/eks-platform/staging-us-west-2"


def test_kubeconfig_given_literally_is_a_secret(tmp_path: Path) -> None:
    from tests.conftest import run_variant

    def mutate(cfg: dict) -> None:
        cfg["meshbridge:clusters"][0]["kubernetes"] = {"kubeconfig": "apiVersion: v1\n# token: literal-token-xyz\n"}

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    write_tree(result, tmp_path / "out")
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "literal-token-xyz" not in text
    assert SECRET in text


def test_resources_json_shape(staging: SynthResult, tmp_path: Path) -> None:
    write_tree(staging, tmp_path / "o")
    resources = json.loads((tmp_path / "o" / "resources.json").read_text())
    assert [r["urn"] for r in resources] == sorted(r["urn"] for r in resources)
    for r in resources:
        assert {"urn", "type", "name", "parent", "provider", "dependencies", "inputs"} <= r.keys()
    outputs = json.loads((tmp_path / "o" / "outputs.json").read_text())
    assert outputs["outputsVersion"] == 1
    assert set(outputs["clusters"]) == {"cluster-a", "cluster-b"}


def test_preview_tree_groups_resources_under_their_cluster(staging: SynthResult) -> None:
    clusters = {r.urn: r.name for r in staging.by_type("meshbridge:cluster:MeshCluster")}
    assert sorted(clusters.values()) == ["cluster-a", "cluster-b"]
    for r in staging.registrations:
        # each cluster's AWS and Kubernetes providers live under that cluster
        if r.type in ("pulumi:providers:aws", "pulumi:providers:kubernetes"):
            assert clusters.get(r.parent) == r.name.rsplit("-", 1)[0], r.urn


def test_kubernetes_objects_are_single_documents_per_file(tmp_path: Path, staging: SynthResult) -> None:
    write_tree(staging, tmp_path / "o")
    files = list((tmp_path / "o" / "clusters").rglob("*.yaml"))
    assert files
    for f in files:
        docs = list(yaml.safe_load_all(f.read_text()))
        assert len(docs) == 1, f


def test_topology_names_every_cluster(tmp_path: Path, staging: SynthResult) -> None:
    write_tree(staging, tmp_path / "o")
    picture = (tmp_path / "o" / "topology.mmd").read_text()
    assert picture.startswith("flowchart")
    assert "cluster-a (us-east-1, network-a)" in picture and "cluster-b (us-west-2, network-b)" in picture
    assert "backend-api.cluster-b.local" in picture


def test_urns_are_the_real_engines(staging: SynthResult) -> None:
    """A URN carries the whole chain of parent types and no stack type, as the real engine builds it
    (the SDK's mock kept only the last parent type; `make e2e` compares every URN with the engine's)."""
    by_name = {r.name: r.urn for r in staging.registrations}
    prefix = "urn:pulumi:staging::meshbridge::"
    assert by_name["cluster-a"] == f"{prefix}meshbridge:cluster:MeshCluster::cluster-a"
    assert by_name["cluster-a-istiod"] == (
        f"{prefix}meshbridge:cluster:MeshCluster$meshbridge:istio:IstioControlPlane$meshbridge:helm:Chart"
        "::cluster-a-istiod"
    )
    assert not [u for u in by_name.values() if "pulumi:pulumi:Stack$" in u]
    # and every child's URN extends its parent's qualified type
    urns = {r.urn for r in staging.registrations}
    for r in staging.registrations:
        if r.parent in urns:
            assert r.urn.split("::")[2].startswith(r.parent.split("::")[2] + "$"), r.urn
