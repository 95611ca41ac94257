"""examples/consumer runs on the mock engine against the outputs synth produces for staging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth.engine import SynthResult, redact, run_program
from tests.conftest import PROJECT

EXAMPLE = PROJECT / "examples" / "consumer"
MESH_STACK = "acme/meshbridge/staging"


def _run(outputs: dict) -> SynthResult:
    # the outputs go through JSON, as they do between two real stacks
    refs = {MESH_STACK: json.loads(json.dumps(outputs))}
    return run_program("example", EXAMPLE / "Pulumi.example.yaml", stack_outputs=refs, project_dir=EXAMPLE)


def test_consumer_reads_the_contract_from_real_synth_outputs(staging: SynthResult) -> None:
    outputs = redact(staging.outputs)
    result = _run(outputs)
    assert result.ok, result.errors
    exported = redact(result.outputs)
    assert exported["network"] == "network-a"
    assert exported["gatewayAddresses"] == outputs["clusters"]["cluster-a"]["gatewayAddresses"]
    assert "backend-api.cluster-b.local" in exported["importedHosts"]
    config_map = next(r for r in result.registrations if r.type == "kubernetes:core/v1:ConfigMap")
    data = redact(config_map.inputs)["data"]
    assert data["root-cert.pem"] == outputs["rootCertificatePem"]
    assert config_map.provider.endswith("::target")


def test_consumer_refuses_an_unknown_outputs_version(staging: SynthResult) -> None:
    outputs = {**redact(staging.outputs), "outputsVersion": 2}
    with pytest.raises(Exception, match=r"outputsVersion 2(\.0)? is not supported"):
        _run(outputs)


def test_example_files_exist() -> None:
    assert (EXAMPLE / "Pulumi.yaml").is_file() and Path(EXAMPLE / "__main__.py").is_file()
