"""The generated configurations of `make bench` (tests/bench.py) are ones the program accepts: the
bench measures nothing if its meshes are refused (it was, unnoticed, after the deployer-role checks
of the first-up fixes)."""

from __future__ import annotations

import pytest

from stacks.config.load import parse_config
from tests.bench import JUDGED, TOPOLOGIES, generated_config, judged_config
from tests.conftest import PROJECT


def _meshbridge(doc: dict) -> dict:
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("meshbridge:")}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_every_bench_topology_is_accepted(name: str) -> None:
    cfg = parse_config(_meshbridge(generated_config(*TOPOLOGIES[name])), PROJECT)
    assert len(cfg.clusters) == TOPOLOGIES[name][0]


@pytest.mark.parametrize("name", sorted(JUDGED))
def test_every_judged_mesh_is_accepted(name: str) -> None:
    cfg = parse_config(_meshbridge(judged_config(name)), PROJECT)
    clusters, services, replicas = JUDGED[name]
    assert (len(cfg.clusters), len(cfg.services)) == (clusters, services)
    if replicas:
        assert cfg.services[0].per_pod is not None and cfg.services[0].per_pod.replicas == replicas
