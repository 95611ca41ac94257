"""What Pulumi's own Kubernetes provider showed against real API servers (`make e2e`, issue 24), on the
real program through synth, and the e2e's own comparison helpers (tools/e2e).

Faults the real provider found in the program:
- a changed Secret or ConfigMap is deleted and created again unless the provider allows mutating
  them (pulumi-kubernetes treats their data as immutable by default): an intermediate renewal
  replaced `cacerts` (istiod would see it gone in between), and a mesh config change would replace
  Istio's `istio` ConfigMap;
- with server-side apply, an `up` fails on a field conflict when another field manager set an owned
  field to another value: a hand edit (the drift of `make e2e`), or the killed run of an interrupted
  `up` whose pending creates were cleared; the objects are meshbridge's, so the providers force;
- pulumi-kubernetes refuses a provider with `renderYamlToDirectory` and a context or kubeconfig ("arg
  is not compatible"), which the program passed together (docs/configuration.md promised they were
  ignored), and so did examples/consumer in `make e2e`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from synth.engine import SynthResult, redact, run_program
from tests.conftest import PROJECT, of_type, run_variant, stacks

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "e2e"))
import run as e2e  # noqa: E402 - tools/e2e on the path
import skip_await  # noqa: E402

K8S_PROVIDER = "pulumi:providers:kubernetes"


@pytest.fixture(scope="module", params=stacks())
def result(request: Any) -> SynthResult:
    synthesized = run_program(request.param)
    assert synthesized.ok, synthesized.errors
    return synthesized


def test_kubernetes_providers_update_secrets_and_config_maps_in_place(result: SynthResult) -> None:
    providers = of_type(result, K8S_PROVIDER)
    assert providers
    for p in providers:
        inputs = redact(p.inputs)
        assert str(inputs.get("enableSecretMutable")).lower() == "true", p.name
        assert str(inputs.get("enableConfigMapMutable")).lower() == "true", p.name


def test_kubernetes_providers_take_their_fields_back(result: SynthResult) -> None:
    for p in of_type(result, K8S_PROVIDER):
        assert str(redact(p.inputs).get("enablePatchForce")).lower() == "true", p.name


def test_render_mode_gives_the_provider_no_context_or_kubeconfig(tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        a, b = cfg["meshbridge:clusters"]
        a["kubernetes"] = {"context": "kind-cluster-a", "renderYamlToDirectory": str(tmp_path / "a")}
        b["kubernetes"] = {"kubeconfig": "apiVersion: v1\nkind: Config\n", "renderYamlToDirectory": str(tmp_path / "b")}

    result = run_variant(tmp_path, mutate, stack="local")
    assert result.ok, result.errors
    providers = {p.name: redact(p.inputs) for p in of_type(result, K8S_PROVIDER)}
    assert set(providers) == {"cluster-a-k8s", "cluster-b-k8s"}
    for name, inputs in providers.items():
        assert inputs["renderYamlToDirectory"] == str(tmp_path / name[len("cluster-") : -len("-k8s")]), name
        assert "context" not in inputs and "kubeconfig" not in inputs, (name, sorted(inputs))


def test_a_cluster_without_render_mode_keeps_its_access(result: SynthResult) -> None:
    for p in of_type(result, K8S_PROVIDER):
        inputs = redact(p.inputs)
        assert "renderYamlToDirectory" not in inputs, p.name
        assert inputs.get("context") or inputs.get("kubeconfig"), (p.name, sorted(inputs))


def test_the_consumer_example_in_render_mode_gives_no_context(tmp_path: Path, staging: SynthResult) -> None:
    example = PROJECT / "examples" / "consumer"
    doc = yaml.safe_load((example / "Pulumi.example.yaml").read_text())
    doc["config"]["mesh-consumer:renderYamlToDirectory"] = str(tmp_path / "render")
    path = tmp_path / "Pulumi.example.yaml"
    path.write_text(yaml.safe_dump(doc))
    refs = {"acme/meshbridge/staging": redact(staging.outputs)}
    done = run_program("example", path, stack_outputs=refs, project_dir=example)
    assert done.ok, done.errors
    (provider,) = of_type(done, K8S_PROVIDER)
    inputs = redact(provider.inputs)
    assert inputs["renderYamlToDirectory"] == str(tmp_path / "render") and "context" not in inputs


# ---------------------------------------------------------------------- the e2e's own helpers


def transformed(type_: str, props: dict[str, Any], custom: bool = True) -> dict[str, Any] | None:
    args = pulumi.ResourceTransformArgs(custom, type_, "x", props, pulumi.ResourceOptions())
    out = skip_await.skip_await(args)
    return None if out is None else dict(out.props)  # type: ignore[arg-type]


def test_skip_await_only_where_a_controller_would_be_awaited() -> None:
    deployment = transformed("kubernetes:apps/v1:Deployment", {"metadata": {"name": "istiod"}})
    assert deployment and deployment["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    lb = transformed("kubernetes:core/v1:Service", {"metadata": {}, "spec": {"type": "LoadBalancer"}})
    assert lb and lb["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    selected = transformed("kubernetes:core/v1:Service", {"metadata": {}, "spec": {"selector": {"app": "x"}}})
    assert selected is not None
    headless = {"metadata": {}, "spec": {"selector": {"app": "x"}, "clusterIP": "None"}}
    assert transformed("kubernetes:core/v1:Service", headless) is None
    assert transformed("kubernetes:core/v1:ConfigMap", {"metadata": {}}) is None
    assert transformed("meshbridge:helm:Chart", {}, custom=False) is None
    job = {"metadata": {"annotations": {"pulumi.com/replaceUnready": "true", "a": "b"}}}
    out = transformed("kubernetes:batch/v1:Job", job)
    assert out and out["metadata"]["annotations"] == {
        "a": "b",
        "pulumi.com/replaceUnready": "false",
        "pulumi.com/skipAwait": "true",
    }


MEM = "2048Mi"


def test_served_objects_hold_the_declared_fields() -> None:
    declared = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n", "labels": {"app": "d"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": MEM}}}]}}},
    }
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "namespace": "n",
            "labels": {"app": "d"},
            "annotations": {"pulumi.com/skipAwait": "true"},
            "uid": "u",
            "managedFields": [{"manager": "pulumi-kubernetes-1"}],
        },
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": "2Gi"}}}]}},
        },
        "status": {"replicas": 0},
    }
    assert e2e.compare_object("d", declared, live) == []
    changed = {**live, "metadata": {**live["metadata"], "labels": {"app": "e"}}}
    assert e2e.compare_object("d", declared, changed)
    dropped = {**live, "spec": {"replicas": 1}}
    assert any("not served" in p for p in e2e.compare_object("d", declared, dropped))


def test_secrets_are_compared_by_their_keys() -> None:
    declared = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "[secret]"}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="}, "type": "Opaque"}
    assert e2e.compare_object("s", declared, live) == []
    other = {**live, "data": {"b": "eA=="}}
    assert e2e.compare_object("s", declared, other)


QUANTITIES = [("2048Mi", "2Gi", True), ("500m", "0.5", True), ("1.30.3", "1.30", False)]


@pytest.mark.parametrize(("a", "b", "same"), QUANTITIES)
def test_quantities_compare_by_value(a: str, b: str, same: bool) -> None:
    assert e2e.same_scalar(a, b) is same
