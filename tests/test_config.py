"""The configuration model: defaults, and bad inputs that must stop before anything is registered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from stacks.config.load import parse_config
from stacks.config.problems import ConfigError
from tests.conftest import PROJECT, Mutation, run_variant, stack_config
from tests.conftest import all_of as _both
from tests.conftest import delete_at as _delete
from tests.conftest import set_at as _set


def _cluster(cfg: dict[str, Any], i: int) -> dict[str, Any]:
    return cfg["meshbridge:clusters"][i]


def _service(cfg: dict[str, Any], i: int) -> dict[str, Any]:
    return cfg["meshbridge:services"][i]


C, S, D, M = "meshbridge:clusters", "meshbridge:services", "meshbridge:distribute", "meshbridge:mesh"

# (id, mutation of the staging stack file, key path the message must start with)
BAD_INPUTS: list[tuple[str, Mutation, str]] = [
    (
        "typo-in-cluster-key",
        lambda c: _cluster(c, 0).update(regoin="us-east-1"),
        "meshbridge:clusters[0].regoin: unknown key",
    ),
    ("typo-top-level-key", _set(["meshbridge:servics"], []), "meshbridge:servics: unknown key"),
    ("typo-in-mesh-key", _set([M, "trustDomian"], "x.local"), "meshbridge:mesh.trustDomian: unknown key"),
    ("mesh-missing", _delete([M]), "meshbridge:mesh: required"),
    ("mesh-not-structured", _set([M], "mesh-staging"), "meshbridge:mesh: must be a structured value"),
    ("duplicate-cluster-name", _set([C, 1, "name"], "cluster-a"), "meshbridge:clusters[1].name: duplicate"),
    ("cluster-name-not-dns-label", _set([C, 0, "name"], "Cluster_A"), "meshbridge:clusters[0].name:"),
    ("duplicate-network", _set([C, 1, "network"], "network-a"), "meshbridge:clusters[1].network:"),
    ("bad-region", _set([C, 0, "region"], "us-east"), "meshbridge:clusters[0].region:"),
    ("zone-outside-region", _set([C, 0, "zone"], "us-west-2a"), "meshbridge:clusters[0].zone:"),
    ("bad-account-id", _set([C, 0, "accountId"], "1234"), "meshbridge:clusters[0].accountId:"),
    ("account-as-number", _set([C, 0, "accountId"], 111111111111), "meshbridge:clusters[0].accountId:"),
    ("bad-vpc-id", _set([C, 0, "vpc", "id"], "vpc-xyz"), "meshbridge:clusters[0].vpc.id:"),
    ("bad-subnet-id", _set([C, 0, "vpc", "subnetIds", 1], "subnet-12"), "meshbridge:clusters[0].vpc.subnetIds[1]:"),
    ("bad-cidr", _set([C, 0, "vpc", "cidr"], "10.10.0.0/33"), "meshbridge:clusters[0].vpc.cidr:"),
    ("cidr-host-bits", _set([C, 0, "vpc", "cidr"], "10.10.0.1/16"), "meshbridge:clusters[0].vpc.cidr:"),
    ("vpc-missing-without-infra-stack", _delete([C, 0, "vpc"]), "meshbridge:clusters[0].vpc.id: required"),
    ("no-kubernetes-access", _delete([C, 0, "kubernetes"]), "meshbridge:clusters[0].kubernetes: no Kubernetes access"),
    (
        "context-and-kubeconfig",
        _set([C, 0, "kubernetes"], {"context": "a", "kubeconfig": "apiVersion: v1"}),
        "meshbridge:clusters[0].kubernetes: give either",
    ),
    ("bad-label-value", _set([C, 0, "labels", "mesh"], "not ok!"), "meshbridge:clusters[0].labels:"),
    (
        "role-in-other-account",
        _set([C, 0, "aws", "assumeRoleArn"], "arn:aws:iam::999999999999:role/x"),
        "meshbridge:clusters[0].aws.assumeRoleArn:",
    ),
    (
        "routed-overlapping-cidrs",
        _both(_set([M, "connectivity"], "routed"), _set([C, 1, "vpc"], {"cidr": "10.10.128.0/17"})),
        "meshbridge:clusters[1].vpc.cidr: 10.10.128.0/17 overlaps",
    ),
    ("unknown-connectivity", _set([M, "connectivity"], "peering"), "meshbridge:mesh.connectivity:"),
    ("mtls-outside-enum", _set([M, "mtls"], "STRICTEST"), "meshbridge:mesh.mtls:"),
    (
        "unknown-producer",
        _set([S, 0, "exportedFrom"], ["cluster-z"]),
        "meshbridge:services[0].exportedFrom[0]: unknown cluster 'cluster-z' (known: cluster-a, cluster-b)",
    ),
    (
        "unknown-consumer",
        _set([S, 0, "consumers", 0, "cluster"], "cluster-z"),
        "meshbridge:services[0].consumers[0].cluster: unknown cluster",
    ),
    (
        "consumer-is-only-producer",
        _set([S, 1, "consumers", 0, "cluster"], "cluster-a"),
        "meshbridge:services[1].consumers[0].cluster:",
    ),
    (  # a service is namespace/name: same name in the same namespace
        "duplicate-service-name",
        lambda cfg: _service(cfg, 1).update(name="backend-api", namespace="default"),
        "meshbridge:services[1].name: duplicate",
    ),
    ("port-out-of-range", _set([S, 0, "ports", 0, "port"], 70000), "meshbridge:services[0].ports[0].port:"),
    ("port-zero", _set([S, 0, "ports", 0, "port"], 0), "meshbridge:services[0].ports[0].port:"),
    (
        "port-repeated",
        _set([S, 0, "ports"], [{"port": 8080, "name": "http"}, {"port": 8080, "name": "http-alt"}]),
        "meshbridge:services[0].ports[1].port: port 8080 is listed twice",
    ),
    ("protocol-not-istio", _set([S, 0, "ports", 0, "protocol"], "UDP"), "meshbridge:services[0].ports[0].protocol:"),
    (
        "principal-not-ns-sa",
        _set([S, 0, "consumers", 0, "principals"], ["frontend"]),
        "meshbridge:services[0].consumers[0].principals:",
    ),
    ("alias-not-dns", _set([S, 0, "alias"], "Backend_API..local"), "meshbridge:services[0].alias:"),
    ("alias-collides", _set([S, 0, "alias"], "hello.demo.svc.cluster.local"), "meshbridge:services[0].alias: host"),
    (
        "methods-on-tcp-port",
        _set([S, 2, "consumers", 0, "methods"], ["GET"]),
        "meshbridge:services[2].consumers[0].methods:",
    ),
    ("per-pod-zero-replicas", _set([S, 1, "perPod", "replicas"], 0), "meshbridge:services[1].perPod.replicas:"),
    (
        "multi-producer-without-outlier-detection",
        _set([S, 0, "exportedFrom"], ["cluster-a", "cluster-b"]),
        "meshbridge:services[0].trafficPolicy.outlierDetection: required",
    ),
    (
        "consumer-also-producer-without-alias",
        _both(
            _set([S, 0, "exportedFrom"], ["cluster-a", "cluster-b"]),
            _set([S, 0, "trafficPolicy"], {"outlierDetection": {"consecutive5xxErrors": 5}}),
            _delete([S, 0, "alias"]),
        ),
        "meshbridge:services[0].alias: required because cluster-a both runs and imports",
    ),
    (
        "selector-matches-nothing",
        _set([D, 0, "clusterSelector"], {"mesh": "disabled"}),
        "meshbridge:distribute[0].clusterSelector:",
    ),
    (
        "unreadable-distribute-file",
        _set([D, 1, "file"], "distribute/missing.yaml"),
        "meshbridge:distribute[1].file: cannot read",
    ),
    ("distribute-file-outside-project", _set([D, 1, "file"], "../etc/passwd"), "meshbridge:distribute[1].file:"),
    ("ca-rsa-bits", _set(["meshbridge:ca", "rsaBits"], 1024), "meshbridge:ca.rsaBits:"),
    ("no-clusters", _set([C], []), "meshbridge:clusters: at least one cluster"),
]


@pytest.mark.parametrize(("mutation", "path"), [(m, p) for _, m, p in BAD_INPUTS], ids=[i for i, _, _ in BAD_INPUTS])
def test_bad_input_fails_before_anything_is_registered(tmp_path: Path, mutation: Mutation, path: str) -> None:
    result = run_variant(tmp_path, mutation)
    assert result.errors, "the configuration mistake was accepted"
    assert any(line.startswith(path) for line in result.errors), result.errors
    assert result.registrations == [], "resources were registered before the configuration was validated"


def test_there_are_at_least_twenty_distinct_bad_inputs() -> None:
    assert len({p.split(":")[1].split(" ")[0] for _, _, p in BAD_INPUTS}) >= 20


def _write_variant(tmp_path: Path, mutation: Mutation) -> Path:
    doc = stack_config("staging")
    mutation(doc["config"])
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("case", [0, 16, 24, 39], ids=lambda i: BAD_INPUTS[i][0])
def test_cli_exits_2_with_key_path_and_no_traceback(tmp_path: Path, case: int) -> None:
    _, mutation, path = BAD_INPUTS[case]
    stack_file = _write_variant(tmp_path, mutation)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "synth", "--stack", "staging", "--config-file", str(stack_file), "--out", str(out)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert path in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists(), "synth wrote output for an invalid configuration"


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    result = run_variant(
        tmp_path, _both(_set([C, 0, "region"], "mars-1"), _set([S, 0, "ports", 0, "port"], 0), _set([M, "mtls"], "OFF"))
    )
    assert len(result.errors) >= 3
    assert [line.split(":")[1].split(".")[0] for line in result.errors[:1]]  # each line has a key path


def test_config_error_is_a_run_error_so_pulumi_prints_no_traceback() -> None:
    # `pulumi up` reports a RunError's message without the Python stack trace
    assert issubclass(ConfigError, pulumi.RunError)


def test_defaults_are_applied() -> None:
    raw = {
        "mesh": {"id": "m"},
        "clusters": [
            {
                "name": "c1",
                "network": "n1",
                "region": "eu-west-1",
                "accountId": "123456789012",
                "kubernetes": {"context": "c1"},
                "vpc": {"id": "vpc-0123abcd", "cidr": "10.0.0.0/16", "subnetIds": ["subnet-0123abcd"]},
            }
        ],
    }
    cfg = parse_config(raw)
    assert cfg.mesh.trust_domain == "cluster.local"
    assert cfg.mesh.connectivity == "privatelink"
    assert cfg.mesh.mtls == "STRICT"
    assert cfg.mesh.import_namespace == "istio-system"
    assert cfg.mesh.istio.version == "1.30.3"
    assert cfg.ca.key_algorithm == "RSA" and cfg.ca.rsa_bits == 4096
    assert cfg.ca.protect_root is True
    assert [r.name for r in cfg.ca.roots] == ["root"] and cfg.ca.active == "root"
    assert cfg.services == [] and cfg.distribute == []


def test_staging_model_reads_the_documented_contract() -> None:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config("staging")["config"].items() if k.startswith("meshbridge:")}
    cfg = parse_config(raw, PROJECT)
    backend = cfg.services[0]
    assert backend.host == "backend-api.cluster-b.local"
    assert backend.fqdn() == "backend-api.default.svc.cluster.local"
    assert cfg.services[1].pod_hosts()[0] == ("src-hello-0.demo.svc.cluster.local", "hello-0.demo.svc.cluster.local")
    assert cfg.pairs() == [("cluster-a", "cluster-b"), ("cluster-b", "cluster-a")]
    assert cfg.cluster("cluster-b").from_stack("subnet_ids") == "privateSubnetIds"
    # the distribute file is loaded relative to the project root
    assert cfg.distribute_manifests[1][0]["kind"] == "Sidecar"
    assert cfg.selected_clusters(0) == ["cluster-a"]
    assert cfg.selected_clusters(1) == ["cluster-a", "cluster-b"]


def test_pairs_come_from_consumers_not_all_clusters() -> None:
    raw = {
        k.split(":", 1)[1]: v for k, v in stack_config("production")["config"].items() if k.startswith("meshbridge:")
    }
    cfg = parse_config(raw, PROJECT)
    # ledger is exported from prod-use1 only; nobody consumes from prod-usw2 except through checkout
    assert ("prod-use1", "prod-usw2") in cfg.pairs()
    assert len(cfg.pairs()) == 6
    raw["services"] = [s for s in raw["services"] if s["name"] == "ledger"]
    cfg = parse_config(raw, PROJECT)
    assert cfg.pairs() == [("prod-usw2", "prod-use1"), ("prod-euw1", "prod-use1")]
