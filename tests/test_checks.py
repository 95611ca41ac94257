"""Deploy-time connectivity checks (`meshbridge:verify.connectivity`): one Job per declared path,
after every object of that path in both clusters, replaced exactly when what it tests changes.

The Jobs only run on a real cluster; here the program runs on the mock engine (what it would apply)
and the check script runs against local stand-in servers (what it prints)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.checks import (
    MESH_FAILURES,
    SCRIPT,
    CheckSettings,
    CheckTarget,
    ConnectivityChecks,
    ConnectivityChecksArgs,
    HttpRequest,
)
from components.constants import CHECK_IMAGE, PROXY_UID
from synth.engine import Registration, SynthResult, run_component, unwrap
from synth.judge import result_config
from tests.conftest import provider_cluster, run_variant
from tests.test_components import assert_children_follow_the_conventions
from tests.validators import validate_object

JOB = "kubernetes:batch/v1:Job"
CHECKS = "meshbridge:checks:ConnectivityChecks"


def jobs(result: SynthResult) -> list[Registration]:
    return [r for r in result.registrations if r.type == JOB]


def env(job: Registration) -> dict[str, str]:
    container = unwrap(job.inputs)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def checked_path(result: SynthResult, job: Registration) -> tuple[str, str, int]:
    """(consumer cluster, host, port) a Job checks, read from what it would run."""
    e = env(job)
    cluster = provider_cluster(result, job)
    assert cluster is not None
    return cluster, e["CHECK_HOST"], int(e["CHECK_PORT"])


def k8s_names(result: SynthResult) -> dict[str, str]:
    """Pulumi resource name -> the Job's Kubernetes name."""
    return {r.name: unwrap(r.inputs)["metadata"]["name"] for r in jobs(result)}


def declared_paths(result: SynthResult) -> dict[tuple[str, str, int], tuple[Any, Any]]:
    """Every declared (consumer, imported host, port), from the configuration -> (service, consumer)."""
    cfg = result_config(result)
    return {
        (cons.cluster, host, port.port): (s, cons)
        for s in cfg.services
        for cons in s.consumers
        for host, _real in s.imported_hosts()
        for port in s.ports
    }


# ------------------------------------------------------------------- every path has its check


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_declared_path_has_its_check(stack: str, request: Any) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    declared = declared_paths(result)
    found = [checked_path(result, j) for j in jobs(result)]
    assert sorted(found) == sorted(declared), "one check per declared (consumer, host, port), no other"
    for job in jobs(result):
        service, consumer = declared[checked_path(result, job)]
        obj = unwrap(job.inputs)
        pod = obj["spec"]["template"]
        spec = pod["spec"]
        ns, sa = consumer.principals[0].split("/")
        # in the namespace of a declared principal, as its service account, with a sidecar that
        # does not keep the Job alive (native sidecar)
        assert obj["metadata"]["namespace"] == ns and spec["serviceAccountName"] == sa
        assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
        assert pod["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"
        container = spec["containers"][0]
        assert container["securityContext"]["runAsUser"] != PROXY_UID  # its traffic must be captured
        assert "@sha256:" in container["image"] and container["image"] == CHECK_IMAGE
        # bounded: the script's retry window, the Job's deadline, its time to live
        port = next(p for p in service.ports if p.port == int(env(job)["CHECK_PORT"]))
        e = env(job)
        assert e["CHECK_PROTOCOL"] == ("http" if port.is_http else "tcp")
        assert int(e["CHECK_RETRY_SECONDS"]) < obj["spec"]["activeDeadlineSeconds"]
        assert obj["spec"]["ttlSecondsAfterFinished"] > 0 and obj["spec"]["backoffLimit"] == 0
        # the path is named on the Job, and by the line the check prints
        assert e["MESHBRIDGE_CHECK"].startswith(f"{consumer.cluster} -> {e['CHECK_HOST']}:{e['CHECK_PORT']} ")
        assert obj["metadata"]["annotations"]["meshbridge.io/check-path"] == e["MESHBRIDGE_CHECK"]
        # a failed check runs again on the next `pulumi up`; pulumi waits beyond the Job's deadline
        assert obj["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
        assert validate_object(obj) == []


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_shipped_stacks_turn_the_checks_on(stack: str) -> None:
    from tests.conftest import stack_config

    assert stack_config(stack)["config"]["meshbridge:verify"]["connectivity"]["enabled"] is True


def test_checks_are_off_unless_turned_on(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda c: c.pop("meshbridge:verify"))
    assert result.ok, result.errors
    assert jobs(result) == [] and not result.by_type(CHECKS)
    assert all("connectivityChecks" not in c for c in unwrap(result.outputs)["clusters"].values())


def test_a_service_can_opt_out(tmp_path: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["meshbridge:services"][2]["check"] = {"enabled": False}  # db-pxc

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    assert not [j for j in jobs(result) if "db-pxc" in env(j)["CHECK_HOST"]]
    assert len(jobs(result)) == 5


def test_the_outputs_say_where_each_check_runs(staging: SynthResult) -> None:
    checks = unwrap(staging.outputs)["clusters"]["cluster-a"]["connectivityChecks"]
    name = k8s_names(staging)["cluster-a-check-backend-api.cluster-b.local-8080"]
    assert checks == {"backend-api.cluster-b.local:8080": f"default/{name}"}


# ----------------------------------------------------- it waits for every object of its path


def descendants(result: SynthResult, component: Registration) -> set[str]:
    """URNs of every resource under `component` (children, their children, ...)."""
    children: dict[str, list[Registration]] = {}
    for r in result.registrations:
        children.setdefault(r.parent, []).append(r)
    found: set[str] = set()
    todo = [component.urn]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child.urn)
            todo.append(child.urn)
    return found


def path_objects(result: SynthResult, consumer: str, host: str, producers: list[str], service: Any) -> set[str]:
    """Every resource the path (consumer, host) needs, found by its documented name (stacks/names.py)."""
    by = {(r.type, r.name): r for r in result.registrations}

    def under(typ: str, name: str) -> set[str]:
        return descendants(result, by[(typ, name)])

    def cluster(c: str) -> set[str]:
        distributed = {
            r.urn
            for r in result.registrations
            if r.custom
            and provider_cluster(result, r) == c
            and by_urn[r.parent].type == "meshbridge:distribution:Distribution"
        }
        cacerts = by[("kubernetes:core/v1:Secret", f"{c}-cacerts")].urn
        return under("meshbridge:istio:IstioControlPlane", f"{c}-istio") | {cacerts} | distributed

    by_urn = {r.urn: r for r in result.registrations}
    need = {
        by[("kubernetes:networking.istio.io/v1:ServiceEntry", f"{consumer}-se-{host}")].urn,
        by[("kubernetes:networking.istio.io/v1:DestinationRule", f"{consumer}-dr-{host}")].urn,
        *cluster(consumer),
    }
    for p in producers:
        export = under("meshbridge:services:ServiceExport", f"{p}-export-{service.namespace}-{service.name}")
        if p == consumer:
            need |= export  # its own instance: the headless twin
            continue
        need |= under("meshbridge:network:GatewayEndpoint", f"{consumer}-to-{p}")
        need |= under("meshbridge:network:PrivateGateway", f"{p}-eastwest")
        need |= under("meshbridge:istio:EastWestGateway", f"{p}-istio-eastwest")
        need |= export | cluster(p)
    return need


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_each_check_waits_for_every_object_of_its_path_in_both_clusters(stack: str, request: Any) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    declared = declared_paths(result)
    types = {r.urn: r.type for r in result.registrations}
    for job in jobs(result):
        consumer, host, _port = checked_path(result, job)
        service, _ = declared[(consumer, host, _port)]
        need = path_objects(result, consumer, host, list(service.exported_from), service)
        missing = sorted(need - set(job.dependencies))
        assert missing == [], f"{job.name} does not wait for {missing}"
        kinds = {types[u].split(":")[-1] for u in need}
        # not vacuous: both clusters' Istio, the consumer's import, the producer's whole side
        assert {"ServiceEntry", "DestinationRule", "Chart", "PeerAuthentication", "Secret"} <= kinds
        if any(p != consumer for p in service.exported_from):
            assert {"VpcEndpoint", "LoadBalancer", "Listener", "TargetGroup", "TargetGroupBinding"} <= kinds
            assert {"Gateway", "AuthorizationPolicy"} <= kinds
        clusters = {provider_cluster(result, r) for r in result.registrations if r.urn in need and r.custom}
        assert {consumer, *service.exported_from} <= clusters


# --------------------------------------------- a changed path gets a new check, others keep theirs


BACKEND = "cluster-a-check-backend-api.cluster-b.local-8080"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s[0]["trafficPolicy"].update({"loadBalancer": {"simple": "ROUND_ROBIN"}}), id="policy"),
        pytest.param(lambda s: s[0]["consumers"][0].update({"methods": ["GET", "POST", "PUT"]}), id="consumer"),
        pytest.param(lambda s: s[0].update({"check": {"path": "/healthz", "expectStatus": [200]}}), id="request"),
        pytest.param(lambda s: s[0].update({"serviceAccount": "backend"}), id="identity"),
    ],
)
def test_a_changed_path_gets_a_new_check_and_an_unchanged_one_keeps_its_own(
    change: Any, staging: SynthResult, tmp_path: Path
) -> None:
    result = run_variant(tmp_path, lambda c: change(c["meshbridge:services"]))
    assert result.ok, result.errors
    before, after = k8s_names(staging), k8s_names(result)
    assert set(before) == set(after), "the Pulumi resource of every path stays (no rename)"
    assert after[BACKEND] != before[BACKEND], "the changed path's Job has a new name: a new Job that runs"
    assert {k: v for k, v in after.items() if k != BACKEND} == {k: v for k, v in before.items() if k != BACKEND}
    old = next(unwrap(r.inputs) for r in jobs(staging) if r.name == BACKEND)
    new = next(unwrap(r.inputs) for r in jobs(result) if r.name == BACKEND)
    assert (
        new["metadata"]["annotations"]["meshbridge.io/check-fingerprint"]
        != (old["metadata"]["annotations"]["meshbridge.io/check-fingerprint"])
    )


def test_an_unchanged_stack_keeps_every_check(staging: SynthResult, tmp_path: Path) -> None:
    again = run_variant(tmp_path, lambda c: None)
    assert k8s_names(again) == k8s_names(staging)


def test_a_new_path_adds_a_check_and_leaves_the_others(staging: SynthResult, tmp_path: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["meshbridge:services"][0]["ports"].append({"port": 9090, "name": "admin", "protocol": "HTTP"})

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    before, after = k8s_names(staging), k8s_names(result)
    added = set(after) - set(before)
    assert added == {"cluster-a-check-backend-api.cluster-b.local-9090"}
    # the service's other port is part of the same path: it changed, so its check runs again
    assert after[BACKEND] != before[BACKEND]
    assert {k: after[k] for k in before if "backend-api" not in k} == {
        k: v for k, v in before.items() if "backend" not in k
    }


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["meshbridge:verify"]["connectivity"].update({"image": "python:3.13-alpine"}),
            "meshbridge:verify.connectivity.image: 'python:3.13-alpine' is not a valid image reference pinned by "
            "digest",
        ),
        (
            lambda c: c["meshbridge:services"][0]["consumers"][0].update({"methods": ["POST"]}),
            "meshbridge:verify.connectivity.http.method: the connectivity check of default/backend-api would call "
            "with GET, but services[0].consumers[0] admits only POST",
        ),
        (
            lambda c: c["meshbridge:services"][0]["consumers"][0].update({"paths": ["/api/*"]}),
            "meshbridge:verify.connectivity.http.path: the connectivity check of default/backend-api would call '/', "
            "but services[0].consumers[0] admits only the paths /api/*",
        ),
        (
            lambda c: c["meshbridge:services"][2].update({"check": {"path": "/x"}}),
            "meshbridge:services[2].check.path: pxc/db-pxc has no HTTP port",
        ),
        (
            lambda c: c["meshbridge:services"][0].update({"check": {"method": "POST"}}),
            "meshbridge:services[0].check.method: Input should be 'GET', 'HEAD' or 'OPTIONS'",
        ),
        (
            lambda c: c["meshbridge:verify"]["connectivity"].update({"retrySeconds": 5}),
            "meshbridge:verify.connectivity.retrySeconds: Input should be greater than or equal to 10",
        ),
        (
            lambda c: c["meshbridge:verify"]["connectivity"].update({"enabeld": True}),
            "meshbridge:verify.connectivity.enabeld: unknown key",
        ),
    ],
)
def test_check_configuration_mistakes_name_their_key(mutate: Any, expected: str, tmp_path: Path) -> None:
    result = run_variant(tmp_path, mutate)
    assert not result.registrations
    assert any(e.startswith(expected) for e in result.errors), result.errors


def test_a_restricted_consumer_is_checked_with_a_request_it_admits(tmp_path: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["meshbridge:services"][0]["consumers"][0].update({"methods": ["HEAD"], "paths": ["/api/*"]})
        c["meshbridge:services"][0]["check"] = {"method": "HEAD", "path": "/api/health"}

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    e = env(next(j for j in jobs(result) if j.name == BACKEND))
    assert (e["CHECK_HTTP_METHOD"], e["CHECK_HTTP_PATH"]) == ("HEAD", "/api/health")


# ------------------------------------------------------------------------------- component


def test_connectivity_checks_component_alone() -> None:
    import pulumi_kubernetes as k8s

    captured: dict[str, Any] = {}

    def build() -> None:
        provider = k8s.Provider("k8s", cluster_identifier="c1")
        captured["c"] = ConnectivityChecks(
            "c1-connectivity-checks",
            ConnectivityChecksArgs(
                cluster="c1",
                provider=provider,
                settings=CheckSettings(image=CHECK_IMAGE, revision="canary"),
                checks=[
                    CheckTarget(
                        resource_name="c1-check-api.x.local-80",
                        host="api.x.local",
                        port=80,
                        protocol="HTTP",
                        namespace="app",
                        service_account="caller",
                        description="c1 -> api.x.local:80",
                        http=HttpRequest(expect_status=(200, 204)),
                    )
                ],
            ),
        )

    result = run_component(build)
    assert_children_follow_the_conventions(result, CHECKS, named_from_component=False)
    (job,) = jobs(result)
    obj = unwrap(job.inputs)
    # with a revision the revision's injector adds the sidecar
    assert obj["spec"]["template"]["metadata"]["labels"]["istio.io/rev"] == "canary"
    assert env(job)["CHECK_EXPECT_STATUS"] == "200,204"
    assert validate_object(obj) == []
    with pytest.raises(ValueError, match="pinned by digest"):
        CheckSettings(image="python:3")


# -------------------------------------------------------- what the check does and prints (locally)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = {"/denied": (403, b"RBAC: access denied"), "/down": (503, b"no healthy upstream")}.get(
            self.path, (404, b"not found")
        )
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    """A local HTTP server (answers, denials, Envoy-like failures) and a TCP port that accepts and
    closes at once (what a sidecar does when it cannot reach or is denied by the producer)."""
    web = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    closer = socket.socket()
    closer.bind(("127.0.0.1", 0))
    closer.listen()

    def close_all() -> None:
        while True:
            try:
                conn, _ = closer.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=web.serve_forever, daemon=True).start()
    threading.Thread(target=close_all, daemon=True).start()
    yield {"http": web.server_address[1], "closing": closer.getsockname()[1]}
    web.shutdown()
    closer.close()


def run_check(**params: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "MESHBRIDGE_CHECK": "cluster-a -> backend-api.cluster-b.local:8080 (as default/frontend)",
        "CHECK_HOST": "127.0.0.1",
        "CHECK_RETRY_SECONDS": "1",
        "CHECK_INTERVAL_SECONDS": "1",
        "CHECK_MESH_FAILURES": "|".join(MESH_FAILURES),
        "CHECK_HTTP_METHOD": "GET",
        **params,
    }
    return subprocess.run([sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=60)


def test_check_passes_on_any_answer_of_the_service(servers: dict[str, int]) -> None:
    proc = run_check(CHECK_PORT=str(servers["http"]), CHECK_PROTOCOL="http", CHECK_HTTP_PATH="/")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[-1] == (
        "meshbridge check PASS cluster-a -> backend-api.cluster-b.local:8080 (as default/frontend): HTTP 404"
    )


@pytest.mark.parametrize(
    ("path", "expect", "reason"),
    [
        ("/denied", "", "HTTP 403 'RBAC: access denied' (an answer of the mesh, not of the service)"),
        ("/down", "", "HTTP 503 'no healthy upstream' (an answer of the mesh, not of the service)"),
        ("/", "200", "HTTP 404, expected 200"),
    ],
)
def test_a_failing_check_exits_1_naming_the_path(servers: dict[str, int], path: str, expect: str, reason: str) -> None:
    proc = run_check(
        CHECK_PORT=str(servers["http"]), CHECK_PROTOCOL="http", CHECK_HTTP_PATH=path, CHECK_EXPECT_STATUS=expect
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == (
        "meshbridge check FAIL cluster-a -> backend-api.cluster-b.local:8080 (as default/frontend): "
        f"{reason} (attempt 1, 1s retry window)"
    )


def test_tcp_check_fails_when_the_sidecar_closes_the_connection(servers: dict[str, int]) -> None:
    proc = run_check(CHECK_PORT=str(servers["closing"]), CHECK_PROTOCOL="tcp")
    assert proc.returncode == 1
    assert "connected to the sidecar, which closed it" in proc.stdout.splitlines()[-1]
    ok = run_check(CHECK_PORT=str(servers["http"]), CHECK_PROTOCOL="tcp")
    assert ok.returncode == 0 and "PASS" in ok.stdout
