"""Telemetry across clusters (`meshbridge:observability`): the mesh-wide Telemetry objects, istiod's
tracing extension provider, and the Prometheus settings published for the teams' own Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.telemetry import MeshTelemetry, MeshTelemetryArgs, tracing_extension_provider
from synth.engine import SynthResult, run_component, unwrap
from synth.render import helm_releases
from tests.conftest import cluster_objects, run_variant
from tests.test_components import assert_children_follow_the_conventions
from tests.validators import validate_object

TELEMETRY = "kubernetes:telemetry.istio.io/v1:Telemetry"


def telemetry(result: SynthResult, cluster: str) -> dict[str, Any]:
    (obj,) = [o for o in cluster_objects(result, cluster) if o["kind"] == "Telemetry"]
    return obj


def mesh_config(result: SynthResult, cluster: str) -> dict[str, Any]:
    return helm_releases(result)[cluster]["istiod.yaml"]["values"]["meshConfig"]


def test_staging_logs_and_traces_every_cluster_to_its_collector(staging: SynthResult) -> None:
    for cluster in ("cluster-a", "cluster-b"):
        obj = telemetry(staging, cluster)
        assert (obj["metadata"]["namespace"], obj["metadata"]["name"]) == ("istio-system", "mesh-default")
        assert "selector" not in obj["spec"]  # root namespace, no selector: every workload of the cluster
        assert obj["spec"]["accessLogging"] == [{"providers": [{"name": "envoy"}]}]
        assert obj["spec"]["tracing"] == [
            {"providers": [{"name": "meshbridge-tracing"}], "randomSamplingPercentage": 10}
        ]
        assert mesh_config(staging, cluster)["extensionProviders"] == [
            {
                "name": "meshbridge-tracing",
                "opentelemetry": {"service": "otel-collector.observability.svc.cluster.local", "port": 4317},
            }
        ]
        assert validate_object(obj) == []
    for reg in staging.by_type(TELEMETRY):
        assert any(d.endswith("-istiod") for d in reg.dependencies), "waits for istiod (webhook, meshConfig)"


def test_production_traces_to_zipkin_without_access_logs(production: SynthResult) -> None:
    for cluster in ("prod-use1", "prod-usw2", "prod-euw1"):
        obj = telemetry(production, cluster)
        assert "accessLogging" not in obj["spec"]
        assert obj["spec"]["tracing"][0]["randomSamplingPercentage"] == 1
        assert mesh_config(production, cluster)["extensionProviders"] == [
            {
                "name": "meshbridge-tracing",
                "zipkin": {"service": "jaeger-collector.observability.svc.cluster.local", "port": 9411},
            }
        ]


def test_prometheus_settings_tell_the_clusters_apart(staging: SynthResult, production: SynthResult) -> None:
    prom = unwrap(staging.outputs)["observability"]["prometheus"]
    assert prom["clusters"]["cluster-b"] == {
        "externalLabels": {"cluster": "cluster-b", "mesh": "mesh-staging"},
        "remoteWrite": [{"url": "https://prometheus.observability.staging.example.internal/api/v1/write"}],
    }
    # every cluster's istiod names its cluster: Istio's metrics carry source_cluster/destination_cluster
    for cluster in ("cluster-a", "cluster-b"):
        values = helm_releases(staging)[cluster]["istiod.yaml"]["values"]
        assert values["global"]["multiCluster"]["clusterName"] == cluster
    fed = unwrap(production.outputs)["observability"]["prometheus"]
    assert "remoteWrite" not in fed["clusters"]["prod-use1"]
    jobs = fed["federation"]["scrapeConfigs"]
    assert [j["job_name"] for j in jobs] == ["federate-prod-use1", "federate-prod-usw2", "federate-prod-euw1"]
    assert jobs[0] == {
        "job_name": "federate-prod-use1",
        "honor_labels": True,  # keeps the federated Prometheus' `cluster` external label
        "metrics_path": "/federate",
        "params": {"match[]": ['{__name__=~"istio_.*"}']},
        "static_configs": [{"targets": ["prometheus.prod-use1.monitoring.example.internal:9090"]}],
    }


def test_without_observability_nothing_is_added(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda c: c.pop("meshbridge:observability"))
    assert result.ok, result.errors
    assert result.by_type(TELEMETRY) == []
    assert "extensionProviders" not in mesh_config(result, "cluster-a")
    obs = unwrap(result.outputs)["observability"]
    assert obs.get("tracing") is None and obs["prometheus"]["clusters"]["cluster-a"] == {
        "externalLabels": {"cluster": "cluster-a"}
    }


def test_access_logging_alone(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda c: c.update({"meshbridge:observability": {"accessLogging": True}}))
    assert result.ok, result.errors
    assert telemetry(result, "cluster-b")["spec"] == {"accessLogging": [{"providers": [{"name": "envoy"}]}]}


@pytest.mark.parametrize(
    ("observability", "expected"),
    [
        (
            {"prometheus": {"central": {"mode": "remoteWrite"}}},
            "meshbridge:observability.prometheus.central.url: required with mode remoteWrite",
        ),
        (
            {"prometheus": {"central": {"mode": "federation", "targets": {"cluster-a": "prom.a:9090"}}}},
            "meshbridge:observability.prometheus.central.targets: no Prometheus address (host:port) for cluster-b",
        ),
        (
            {
                "prometheus": {
                    "central": {"mode": "federation", "targets": {"cluster-a": "p:1", "cluster-b": "p:1", "x": "p:1"}}
                }
            },
            "meshbridge:observability.prometheus.central.targets.x: unknown cluster",
        ),
        (
            {"prometheus": {"externalLabels": {"cluster": "all"}}},
            "meshbridge:observability.prometheus.externalLabels: 'cluster' is the cluster label",
        ),
        (
            {"prometheus": {"central": {"mode": "remoteWrite", "url": "http://prom/api/v1/write"}}},
            "meshbridge:observability.prometheus.central.url: 'http://prom/api/v1/write' must be an https:// URL",
        ),
        (
            {"tracing": {"provider": "jaeger", "service": "c.o.svc.cluster.local"}},
            "meshbridge:observability.tracing.provider: Input should be 'opentelemetry' or 'zipkin'",
        ),
        (
            {"tracing": {"provider": "zipkin", "service": "c.o.svc.cluster.local", "samplingPercentage": 101}},
            "meshbridge:observability.tracing.samplingPercentage: Input should be less than or equal to 100",
        ),
        ({"accesLogging": True}, "meshbridge:observability.accesLogging: unknown key"),
    ],
)
def test_observability_mistakes_name_their_key(observability: dict[str, Any], expected: str, tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda c: c.update({"meshbridge:observability": observability}))
    assert not result.registrations
    assert any(e.startswith(expected) for e in result.errors), result.errors


def test_mesh_telemetry_component_alone() -> None:
    import pulumi_kubernetes as k8s

    def build() -> None:
        MeshTelemetry(
            "c1-telemetry",
            MeshTelemetryArgs(
                cluster="c1",
                provider=k8s.Provider("k8s", cluster_identifier="c1"),
                access_logging=False,
                tracing_provider="meshbridge-tracing",
                sampling_percentage=0.5,
            ),
        )

    result = run_component(build)
    assert_children_follow_the_conventions(result, "meshbridge:telemetry:MeshTelemetry", named_from_component=False)
    (reg,) = result.by_type(TELEMETRY)
    assert unwrap(reg.inputs)["spec"] == {
        "tracing": [{"providers": [{"name": "meshbridge-tracing"}], "randomSamplingPercentage": 0.5}]
    }
    with pytest.raises(ValueError, match="needs access logging or tracing"):
        run_component(
            lambda: MeshTelemetry(
                "c2-telemetry",
                MeshTelemetryArgs(cluster="c2", provider=k8s.Provider("k8s"), access_logging=False),
            )
        )
    assert tracing_extension_provider("zipkin", "z.o.svc.cluster.local", 9411) == {
        "name": "meshbridge-tracing",
        "zipkin": {"service": "z.o.svc.cluster.local", "port": 9411},
    }


def test_a_distributed_object_may_not_replace_the_mesh_telemetry(tmp_path: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        obj = {
            "apiVersion": "telemetry.istio.io/v1",
            "kind": "Telemetry",
            "metadata": {"name": "mesh-default", "namespace": "istio-system"},
            "spec": {"accessLogging": [{"disabled": True}]},
        }
        c["meshbridge:distribute"].append({"name": "quiet", "clusterSelector": {"mesh": "enabled"}, "manifests": [obj]})

    result = run_variant(tmp_path, mutate)
    assert (
        "meshbridge:distribute[2].manifests[0]: Telemetry istio-system/mesh-default is the mesh-wide Telemetry, "
        "which meshbridge manages in cluster-a; remove it"
    ) in result.errors
