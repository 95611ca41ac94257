"""Mesh expansion (`meshbridge:workloads`, docs/services.md "VMs in the mesh"): what the configuration
refuses (key paths, exit 2), what the VMs' cluster gets (WorkloadGroup, a WorkloadEntry per VM, the
Service, istiod exposed through the east-west gateway and NLB, admitted from the VMs only), the
outputs a VM's bootstrap reads, and the Istio judge on Pulumi.vm.yaml and on faults in its tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synth.engine import SynthResult, run_program, unwrap
from synth.render import redact, write_tree
from tests.conftest import (
    cluster_objects,
    config_problems,
    judge_fault,
    run_judge,
    run_variant,
    synth_refusal,
)
from tests.validators import validate_object

STACK = "vm"
W = "meshbridge:workloads[0]"
S = "meshbridge:services[0]"
VMS = ("10.100.12.34", "10.100.44.21")
ENTRY = "ledger-use1/workloadentry.ledger.ledger-vms-10-100-12-34.yaml"


@pytest.fixture(scope="module")
def vm() -> SynthResult:
    result = run_program(STACK)
    assert result.ok, result.errors
    return result


def _w(doc: dict[str, Any]) -> dict[str, Any]:
    w: dict[str, Any] = doc["meshbridge:workloads"][0]
    return w


def _s(doc: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = doc["meshbridge:services"][0]
    return s


def _inst(doc: dict[str, Any], i: int = 0) -> dict[str, Any]:
    inst: dict[str, Any] = _w(doc)["instances"][i]
    return inst


REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown-cluster", lambda d: _w(d).update(cluster="nowhere"), f"{W}.cluster: 'nowhere' is not one of"),
    ("outside-vpc", lambda d: _inst(d).update(address="10.200.0.5"), f"{W}.instances[0].address: 10.200.0.5 is not in"),
    (
        "loopback",
        lambda d: _inst(d).update(address="127.0.0.1"),
        f"{W}.instances[0].address: '127.0.0.1' is a loopback",
    ),
    (
        "not-ipv4",
        lambda d: _inst(d).update(address="vm-1.internal"),
        f"{W}.instances[0].address: 'vm-1.internal' is not",
    ),
    ("same-address", lambda d: _inst(d, 1).update(address=VMS[0]), f"{W}.instances[1].address: {VMS[0]} is also"),
    ("zone", lambda d: _inst(d).update(zone="us-west-2a"), f"{W}.instances[0].zone: us-west-2a is not a zone of"),
    ("no-instances", lambda d: _w(d).update(instances=[]), f"{W}.instances"),
    ("no-labels", lambda d: _w(d).update(labels={}), f"{W}.labels"),
    ("unused", lambda d: _s(d).pop("workloadGroup"), f"{W}: no meshbridge:services entry names it"),
    ("unknown-group", lambda d: _s(d).update(workloadGroup="other"), f"{S}.workloadGroup: 'other' is not one of"),
    (
        "namespace",
        lambda d: _w(d).update(namespace="billing"),
        f"{S}.workloadGroup: ledger-vms is in namespace billing",
    ),
    (
        "exported-elsewhere",
        lambda d: _s(d).update(exportedFrom=["ledger-use1", "app-usw2"]),
        f"{S}.exportedFrom: a service backed by workload group ledger-vms is exported from its cluster",
    ),
    (
        "selector",
        lambda d: _s(d).update(selector={"app": "ledger-v2"}),
        f"{W}.labels: the service ledger/ledger selects",
    ),
    ("identity", lambda d: _w(d).update(serviceAccount="vm"), f"{W}.serviceAccount: vm, but the service"),
    (
        "twice",
        lambda d: d["meshbridge:workloads"].append({**_w(d), "instances": [{"address": "10.100.1.1"}]}),
        "meshbridge:workloads[1].name: ledger-vms is given twice",
    ),
    ("unknown-key", lambda d: _w(d).update(network="vm-net"), f"{W}.network: unknown key"),
    (
        "two-services",
        lambda d: d["meshbridge:services"].append({**_s(d), "name": "ledger-admin"}),
        "meshbridge:services[1].workloadGroup: ledger-vms already backs ledger/ledger",
    ),
]


@pytest.mark.parametrize(("mutate", "path"), [(m, p) for _, m, p in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_workload_mistake_is_refused_with_its_key_path(mutate: Callable[[dict[str, Any]], None], path: str) -> None:
    problems = config_problems(STACK, mutate)
    assert any(line.startswith(path) for line in problems), problems


def test_the_worked_example_is_accepted() -> None:
    assert config_problems(STACK, lambda d: None) == []


def test_a_refusal_stops_synth_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    stderr = synth_refusal(tmp_path, STACK, lambda d: _inst(d).update(address="10.200.0.5"))
    assert f"{W}.instances[0].address: 10.200.0.5 is not in ledger-use1's VPC (10.100.0.0/16)" in stderr


def _kind(result: SynthResult, kind: str, cluster: str = "ledger-use1") -> list[dict[str, Any]]:
    return [o for o in cluster_objects(result, cluster) if o["kind"] == kind]


def test_the_vms_cluster_gets_a_workload_group_an_entry_per_vm_and_the_service(vm: SynthResult) -> None:
    (group,) = _kind(vm, "WorkloadGroup")
    assert group["metadata"] == {
        "name": "ledger-vms",
        "namespace": "ledger",
        "labels": {"app.kubernetes.io/managed-by": "meshbridge"},
    }
    assert group["spec"] == {
        "metadata": {"labels": {"app": "ledger", "runtime": "vm"}},
        "template": {"serviceAccount": "ledger", "network": "net-ledger-use1"},
    }
    entries = {e["spec"]["address"]: e for e in _kind(vm, "WorkloadEntry")}
    assert sorted(entries) == sorted(VMS)
    assert entries[VMS[1]]["metadata"]["name"] == "ledger-vms-10-100-44-21"
    assert entries[VMS[1]]["spec"] == {
        "address": VMS[1],
        "labels": {"app": "ledger", "runtime": "vm"},
        "serviceAccount": "ledger",
        "network": "net-ledger-use1",
        "locality": "us-east-1/us-east-1b",
    }
    (service,) = [s for s in _kind(vm, "Service") if s["metadata"]["name"] == "ledger"]
    assert service["spec"]["selector"] == {"app": "ledger"}
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(8080, 8080)]
    # nothing of this in the consumer cluster
    assert not _kind(vm, "WorkloadEntry", "app-usw2") and not _kind(vm, "WorkloadGroup", "app-usw2")
    for cluster in ("ledger-use1", "app-usw2"):
        for obj in cluster_objects(vm, cluster):
            assert validate_object(obj) == [], obj


def test_istiod_is_exposed_on_the_vms_cluster_and_its_nlb_admits_the_vms_only(vm: SynthResult) -> None:
    names = {o["metadata"]["name"] for o in cluster_objects(vm, "ledger-use1")}
    assert {"istiod-gateway", "istiod-vs"} <= names
    assert "istiod-gateway" not in {o["metadata"]["name"] for o in cluster_objects(vm, "app-usw2")}
    rules = [
        redact(r.inputs)
        for r in vm.registrations
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and "-nlb-in-15012-vm-" in r.name
    ]
    assert sorted((r["cidrIpv4"], r["fromPort"], r["toPort"]) for r in rules) == [
        (f"{a}/32", 15012, 15012) for a in sorted(VMS)
    ]
    listeners = [
        r for r in vm.registrations if r.type == "aws:lb/listener:Listener" and r.name.startswith("ledger-use1")
    ]
    assert sorted(redact(r.inputs)["port"] for r in listeners) == [443, 15012, 15443]


def test_the_outputs_hold_what_a_vm_bootstrap_needs(vm: SynthResult) -> None:
    outputs = unwrap(vm.outputs)
    assert outputs["workloads"]["ledger-vms"] == {
        "cluster": "ledger-use1",
        "namespace": "ledger",
        "serviceAccount": "ledger",
        "network": "net-ledger-use1",
        "meshId": "mesh-vm",
        "trustDomain": "cluster.local",
        "discoveryAddress": "istiod.istio-system.svc:15012",
        "istiodAddress": "${ledger-use1-eastwest-nlb.dnsName}",
        "rootCertificatePem": outputs["rootCertificatePem"],
        "addresses": list(VMS),
    }
    # a stack without workloads keeps its outputs as they were
    assert "workloads" not in unwrap(run_program("routing").outputs)


# ------------------------------------------------------------------------------ the Istio judge


@pytest.fixture(scope="module")
def vm_tree(tmp_path_factory: pytest.TempPathFactory, vm: SynthResult, judge: Path) -> Path:
    out = tmp_path_factory.mktemp("vm") / "tree"
    write_tree(vm, out)
    return out


def test_pilot_puts_the_vms_behind_the_gateway_and_their_sidecar_admits_the_consumer(
    judge: Path, vm_tree: Path
) -> None:
    decl = json.loads((vm_tree / "judge.json").read_text())
    (path,) = decl["paths"]
    assert path["pods"] == [] and [v["address"] for v in path["vms"]] == list(VMS)
    proc = run_judge(judge, vm_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "istio judge: 1 of 1 declared paths computed by pilot as declared, 0 problems" in proc.stdout


def test_a_vm_the_service_does_not_select_fails_the_path(judge: Path, vm_tree: Path, tmp_path: Path) -> None:
    out = judge_fault(judge, vm_tree, tmp_path, ENTRY, lambda o: o["spec"]["labels"].update(app="ledger-old"))
    assert (
        "link producer Service ledger/ledger: gateway cluster outbound_.8080_._.ledger.ledger.svc.cluster.local" in out
    )
    assert "expected the producer's VMs (WorkloadEntries) and pods [10.100.12.34:8080 10.100.44.21:8080]" in out


def test_a_vm_in_another_locality_fails_the_path(judge: Path, vm_tree: Path, tmp_path: Path) -> None:
    out = judge_fault(judge, vm_tree, tmp_path, ENTRY, lambda o: o["spec"].update(locality="us-east-1/us-east-1c"))
    assert (
        "link WorkloadEntry ledger/10.100.12.34: gateway cluster outbound_.8080_._.ledger.ledger.svc.cluster.local has "
        'the VM in locality "us-east-1/us-east-1c", expected "us-east-1/us-east-1a"' in out
    )


def test_a_policy_that_misses_the_vms_fails_the_path(judge: Path, vm_tree: Path, tmp_path: Path) -> None:
    out = judge_fault(
        judge,
        vm_tree,
        tmp_path,
        "ledger-use1/authorizationpolicy.ledger.meshbridge-export-ledger.yaml",
        lambda o: o["spec"]["rules"][0]["from"][0]["source"].update(principals=["cluster.local/ns/app/sa/other"]),
    )
    assert "ledger-use1: ledger/ledger port 8080 (producer sidecar): link AuthorizationPolicy ledger" in out


def test_routed_consumers_reach_the_gateway_port_only_and_the_vms_istiod(tmp_path: Path) -> None:
    # routed: the consumers' pods connect to the NLB from their VPC; they need the gateway port, not
    # istiod's (that is for primary-remote's remotes), while the VMs reach istiod on 15012
    result = run_variant(tmp_path, lambda d: d["meshbridge:mesh"].update(connectivity="routed"), STACK)
    assert result.ok, result.errors
    rules = [
        redact(r.inputs)
        for r in result.registrations
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and "-nlb-in-" in r.name
    ]
    admitted = sorted((r["cidrIpv4"], r["fromPort"]) for r in rules)
    assert admitted == [("10.100.12.34/32", 15012), ("10.100.44.21/32", 15012), ("10.110.0.0/16", 15443)]
