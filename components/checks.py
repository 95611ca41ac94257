"""Deploy-time connectivity checks: a Kubernetes Job per (consumer cluster, imported host, port).

Each Job runs in the consumer cluster, in the namespace of a declared consumer principal and as its
service account, with an Istio sidecar (a native sidecar: `sidecar.istio.io/nativeSidecar: "true"`,
an init container with `restartPolicy: Always` that Kubernetes stops once the check container has
exited, so the sidecar never keeps the Job alive; Kubernetes 1.29 or later). Its container calls the
imported host through the sidecar, exactly as the consumer's workloads do:

- HTTP ports (HTTP, HTTP2, GRPC): a request (method and path configurable); it passes on any
  response that is neither an Envoy-generated failure (`upstream connect error ...`,
  `no healthy upstream`, `upstream request timeout`) nor an Istio denial (`RBAC: access denied`),
  or, with `expect_status`, on one of those statuses only;
- other ports (TCP, TLS, HTTPS, MONGO): a TCP connect that the sidecar must keep open (or the service
  must answer) for 3 seconds: the sidecar accepts every connection locally and closes it at once when
  it cannot reach (or is denied by) the producer.

It retries for `retry_seconds` and exits 1 with one line `meshbridge check FAIL <path>: <reason>`
(docs/runbook.md). The Kubernetes provider waits for a Job to complete (or fail) on create, so
`pulumi up` waits for every check, and each Job depends on every object of its path in both
clusters (the wiring passes them: stacks/checks.py). The Pulumi resource name is stable per
(consumer, host, port); the Job's Kubernetes name ends in a hash of everything the Job does and of
what the path is made of (`fingerprint`), so a changed path gets a new Job (a replacement that runs
again) and an unchanged one keeps its own. `ttlSecondsAfterFinished` removes finished Jobs from
the cluster; `pulumi.com/replaceUnready` makes a failed check run again on the next `pulumi up`.

The component reads no configuration: typed args, every child through `child_opts`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import MANAGED_BY, PROXY_UID
from components.options import Dependency, child_opts

CHECK_LABEL = "meshbridge.io/check"
PATH_ANNOTATION = "meshbridge.io/check-path"
FINGERPRINT_ANNOTATION = "meshbridge.io/check-fingerprint"
# the pulumi-kubernetes annotation that replaces (re-runs) a Job that failed in an earlier update
REPLACE_UNREADY = "pulumi.com/replaceUnready"
NATIVE_SIDECAR = "sidecar.istio.io/nativeSidecar"
INJECT_LABEL = "sidecar.istio.io/inject"
REVISION_LABEL = "istio.io/rev"
HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC")
# the check container's user: never the proxy's UID (its traffic would bypass the sidecar)
CHECK_UID = 65534
assert CHECK_UID != PROXY_UID
# time the pod gets to be scheduled, pull the image and start its sidecar, beyond the retry window
START_SECONDS = 120
# time Pulumi waits beyond the Job's own deadline before it gives up on it
AWAIT_MARGIN_SECONDS = 300
# Envoy's own answers (the body starts with one): the request never reached the service
MESH_FAILURES = ("upstream connect error", "no healthy upstream", "upstream request timeout", "RBAC: access denied")

# The check itself (python3 of the image, standard library only). Parameters come from the env.
SCRIPT = """\
import http.client, os, socket, sys, time
E = os.environ
what, host, port = E["MESHBRIDGE_CHECK"], E["CHECK_HOST"], int(E["CHECK_PORT"])
window, interval = int(E["CHECK_RETRY_SECONDS"]), int(E["CHECK_INTERVAL_SECONDS"])
expect = sorted(int(x) for x in E.get("CHECK_EXPECT_STATUS", "").split(",") if x)
MESH = tuple(E["CHECK_MESH_FAILURES"].split("|"))

def http_once():
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(E["CHECK_HTTP_METHOD"], E["CHECK_HTTP_PATH"], headers={"user-agent": "meshbridge-check"})
        resp = conn.getresponse()
        body = resp.read(512).decode("utf-8", "replace").strip()
    finally:
        conn.close()
    mesh = next((m for m in MESH if body.startswith(m)), None)
    if mesh:
        return False, f"HTTP {resp.status} {body[:160]!r} (an answer of the mesh, not of the service)"
    if expect and resp.status not in expect:
        return False, f"HTTP {resp.status}, expected {', '.join(map(str, expect))}"
    return True, f"HTTP {resp.status}"

def tcp_once():
    sock = socket.create_connection((host, port), timeout=5)
    try:
        sock.settimeout(3)
        try:
            data = sock.recv(1)
        except socket.timeout:
            return True, "connected, still open after 3s"
        if data:
            return True, "connected, the service answered"
        return False, "connected to the sidecar, which closed it: the producer was not reached or denied the call"
    finally:
        sock.close()

probe = http_once if E["CHECK_PROTOCOL"] == "http" else tcp_once
start, attempt = time.monotonic(), 0
while True:
    attempt += 1
    try:
        ok, why = probe()
    except (OSError, http.client.HTTPException) as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
    print(f"meshbridge check attempt {attempt}: {why}", flush=True)
    if ok:
        print(f"meshbridge check PASS {what}: {why}", flush=True)
        sys.exit(0)
    if time.monotonic() - start + interval > window:
        print(f"meshbridge check FAIL {what}: {why} (attempt {attempt}, {window}s retry window)", flush=True)
        sys.exit(1)
    time.sleep(interval)
"""


@dataclass(frozen=True)
class HttpRequest:
    """What an HTTP check asks."""

    path: str = "/"  # the request path
    method: str = "GET"  # GET, HEAD or OPTIONS (no side effects)
    expect_status: tuple[int, ...] = ()  # () : any answer of the service passes


@dataclass(frozen=True)
class CheckTarget:
    """One (consumer cluster, imported host, port) to check."""

    resource_name: str  # the Job's Pulumi name (stable per consumer, host and port)
    host: str  # the imported host the consumer's workloads call
    port: int  # its port
    protocol: str  # the Istio protocol of the port (HTTP, HTTP2, GRPC: an HTTP check; else TCP)
    namespace: str  # the namespace of a declared consumer principal (the Job lives there)
    service_account: str  # that principal's service account (the Job runs as it)
    description: str  # the path in words, printed by the check and on the Job (annotation)
    http: HttpRequest = HttpRequest()  # the request of an HTTP check
    # what the path is made of (service, producers, SNI, policies, ...): part of the Job's name hash
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    # every object the path needs, in both clusters: the Job is created after all of them
    depends_on: Sequence[Dependency] = field(default_factory=list)

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


@dataclass(frozen=True)
class CheckSettings:
    """How every check of a cluster runs."""

    image: str  # the check image, pinned by digest (it needs python3)
    retry_seconds: int = 300  # how long a check keeps trying
    interval_seconds: int = 5  # pause between attempts
    ttl_seconds_after_finished: int = 3600  # finished Jobs are removed after this
    revision: Optional[str] = None  # the Istio revision that injects the sidecar (None: the default)

    def __post_init__(self) -> None:
        if "@sha256:" not in self.image:
            raise ValueError(f"the check image must be pinned by digest, got {self.image!r}")


@dataclass(frozen=True)
class ConnectivityChecksArgs:
    """The connectivity checks of one consumer cluster."""

    cluster: str  # the consumer cluster's name (part of the resource names)
    provider: pulumi.ProviderResource  # the consumer's kubernetes.Provider
    checks: Sequence[CheckTarget]  # one per imported host and port
    settings: CheckSettings  # image, retry window, time to live, Istio revision

    def __post_init__(self) -> None:
        names = [c.resource_name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.cluster}: two checks with the same resource name")


def job_spec(args: CheckSettings, target: CheckTarget) -> dict[str, Any]:
    """The Job's spec (camelCase, as applied): the check container, its sidecar, its deadlines."""
    env = {
        "MESHBRIDGE_CHECK": target.description,
        "CHECK_HOST": target.host,
        "CHECK_PORT": str(target.port),
        "CHECK_PROTOCOL": "http" if target.is_http else "tcp",
        "CHECK_RETRY_SECONDS": str(args.retry_seconds),
        "CHECK_INTERVAL_SECONDS": str(args.interval_seconds),
        "CHECK_MESH_FAILURES": "|".join(MESH_FAILURES),
    }
    if target.is_http:
        env["CHECK_HTTP_METHOD"] = target.http.method
        env["CHECK_HTTP_PATH"] = target.http.path
        env["CHECK_EXPECT_STATUS"] = ",".join(str(s) for s in target.http.expect_status)
    injection = {REVISION_LABEL: args.revision} if args.revision else {INJECT_LABEL: "true"}
    return {
        # the script retries on its own: a failed pod is a failed path, never retried blindly
        "backoffLimit": 0,
        "activeDeadlineSeconds": args.retry_seconds + START_SECONDS,
        "ttlSecondsAfterFinished": args.ttl_seconds_after_finished,
        "template": {
            "metadata": {
                "labels": {**MANAGED_BY, CHECK_LABEL: "connectivity", **injection},
                # the sidecar as a Kubernetes native sidecar: started (and ready) before the check,
                # stopped once it exits, so the Job completes
                "annotations": {NATIVE_SIDECAR: "true"},
            },
            "spec": {
                "serviceAccountName": target.service_account,
                # the sidecar gets its own token (istio-token); the check needs none
                "automountServiceAccountToken": False,
                "restartPolicy": "Never",
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "check",
                        "image": args.image,
                        "command": ["python3", "-c", SCRIPT],
                        "env": [{"name": k, "value": v} for k, v in env.items()],
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "32Mi"},
                            "limits": {"memory": "64Mi"},
                        },
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": CHECK_UID,
                            "runAsGroup": CHECK_UID,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        # the last lines of the log become the pod's termination message
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }
                ],
            },
        },
    }


def fingerprint(cluster: str, settings: CheckSettings, target: CheckTarget) -> str:
    """sha256 of what the Job does (namespace, spec) and of what its path is made of."""
    doc = {
        "cluster": cluster,
        "namespace": target.namespace,
        "spec": job_spec(settings, target),
        "path": target.fingerprint,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def job_name(target: CheckTarget, digest: str) -> str:
    """`mb-check-<first label of the host>-<port>-<10 hex of the fingerprint>` (at most 63)."""
    label = target.host.split(".", 1)[0][:30].rstrip("-")
    return f"mb-check-{label}-{target.port}-{digest[:10]}"


class ConnectivityChecks(pulumi.ComponentResource):
    """The check Jobs of one consumer cluster."""

    jobs: dict[str, k8s.batch.v1.Job]  # resource name -> Job
    job_names: dict[str, str]  # resource name -> the Job's Kubernetes name
    namespaces: dict[str, str]  # resource name -> the Job's namespace

    def __init__(self, name: str, args: ConnectivityChecksArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:checks:ConnectivityChecks", name, None, opts)
        self.jobs = {}
        self.job_names = {}
        self.namespaces = {}
        # Pulumi waits this long for a Job before it reports it failed (its default is 10 minutes)
        settings = args.settings
        wait = f"{settings.retry_seconds + START_SECONDS + AWAIT_MARGIN_SECONDS}s"
        for target in args.checks:
            digest = fingerprint(args.cluster, settings, target)
            jname = job_name(target, digest)
            self.job_names[target.resource_name] = jname
            self.namespaces[target.resource_name] = target.namespace
            self.jobs[target.resource_name] = k8s.batch.v1.Job(
                target.resource_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=jname,
                    namespace=target.namespace,
                    labels={**MANAGED_BY, CHECK_LABEL: "connectivity"},
                    annotations={
                        PATH_ANNOTATION: target.description,
                        FINGERPRINT_ANNOTATION: digest,
                        REPLACE_UNREADY: "true",
                    },
                ),
                spec=job_spec(settings, target),
                opts=child_opts(
                    self,
                    args.provider,
                    depends_on=list(target.depends_on),
                    custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait),
                ),
            )
        self.register_outputs({"cluster": args.cluster, "jobs": dict(sorted(self.job_names.items()))})
