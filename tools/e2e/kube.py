"""make e2e: the Kubernetes API servers of the e2e clusters, and a small client to read them back.

`ApiServer` runs `meshbridge-apiserver` (tools/kube: kube-apiserver and an embedded etcd in one
process) on 127.0.0.1 with its data in a folder of its own, so that it can be stopped and started
again with the same objects, address and credentials (the outage fault of docs/e2e.md). `Kube` is a
client of the Kubernetes REST API on the standard library (urllib): discovery, get, list, create,
patch. The e2e reads every object back through it (never from files).
"""

from __future__ import annotations

import base64
import json
import select
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# kube-apiserver flags of the e2e (docs/e2e.md, "What the API servers do not run"):
# - no garbage collector runs (it is part of kube-controller-manager): without this flag every delete
#   pulumi-kubernetes sends (propagationPolicy Foreground) would wait for it forever;
# - no istiod runs to answer Istio's validating webhooks (or the sidecar injector); the webhook
#   configurations are stored as the charts render them, the API server does not call them.
APISERVER_FLAGS = (
    "--enable-garbage-collector=false",
    "--disable-admission-plugins=ValidatingAdmissionWebhook,MutatingAdmissionWebhook",
)
# the metadata the API server sets on every object
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


class KubeError(Exception):
    pass


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class ApiServer:
    """One cluster's API server: start, stop, start again on the same data."""

    def __init__(
        self,
        binary: str,
        cluster: str,
        folder: Path,
        address: str = "127.0.0.1",
        flags: tuple[str, ...] = APISERVER_FLAGS,
    ) -> None:
        self.binary = binary
        self.cluster = cluster
        self.folder = folder
        self.address = address  # where it listens; its serving certificate is issued for it
        self.flags = flags
        self.kubeconfig = folder / "kubeconfig"
        self.process: subprocess.Popen[str] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 180) -> None:
        if self.process is not None:
            return
        log = (self.folder / "server.log").open("a")
        cmd = [self.binary, "--kubeconfig-out", str(self.kubeconfig), "--data-dir", str(self.folder / "data")]
        cmd += ["--address", self.address, "--", *self.flags]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready or self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise KubeError(f"{self.cluster}: meshbridge-apiserver did not start (see {self.folder / 'server.log'})")

    def stop(self) -> None:
        """SIGTERM (kube-apiserver shuts down gracefully), SIGKILL if it takes more than a minute."""
        if self.process is None:
            return
        stop_process(self.process, 60)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kubeconfig_text(self) -> str:
        return self.kubeconfig.read_text()

    def client(self) -> Kube:
        return Kube.from_kubeconfig(self.kubeconfig_text())

    @property
    def data(self) -> Path:
        """meshbridge-apiserver's data folder: sa.key (the service-account signing key) and
        certs/apiserver.crt (the self-signed serving certificate, its own CA)."""
        return self.folder / "data"


class ControllerManager:
    """kube-controller-manager of the same k8s.io/kubernetes beside one API server (the istiod phase of
    docs/e2e.md), with the controllers a mesh relies on: service-account token Secrets get their token
    (signed with the API server's key), namespaces are deleted for real, the garbage collector
    follows owner references. No scheduler or kubelet runs, so nothing else would have work."""

    CONTROLLERS = (
        "serviceaccount-token-controller",
        "serviceaccount-controller",
        "namespace-controller",
        "garbage-collector-controller",
    )

    def __init__(self, binary: str, server: ApiServer) -> None:
        self.binary = binary
        self.server = server
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        data = self.server.data
        cmd = [
            self.binary,
            f"--kubeconfig={self.server.kubeconfig}",
            f"--service-account-private-key-file={data / 'sa.key'}",
            f"--root-ca-file={data / 'certs' / 'apiserver.crt'}",
            f"--controllers={','.join(self.CONTROLLERS)}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--secure-port=0",
        ]
        with (self.server.folder / "controller-manager.log").open("a") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 30)
            self.process = None


@dataclass(frozen=True)
class Resource:
    """One served resource type (discovery)."""

    api_version: str  # "v1", "apps/v1"
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{urllib.parse.quote(namespace)}"
        base += f"/{self.plural}"
        return base + (f"/{urllib.parse.quote(name)}" if name else "")


class Kube:
    """The Kubernetes REST API of one server, with the admin token of its kubeconfig."""

    def __init__(self, server: str, token: str, ca_pem: str) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.ca_pem = ca_pem
        self.context = ssl.create_default_context(cadata=ca_pem)
        self._resources: dict[tuple[str, str], Resource] | None = None

    @classmethod
    def from_kubeconfig(cls, text: str) -> Kube:
        cfg = yaml.safe_load(text)
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        return cls(cluster["server"], user["token"], ca)

    def as_token(self, token: str) -> Kube:
        """The same server with another bearer token (a service account's)."""
        return Kube(self.server, token, self.ca_pem)

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", timeout: float = 30
    ) -> tuple[int, Any]:
        """One call; a 429 (e.g. "storage is (re)initializing" right after a CRD is created) is
        retried for up to a minute."""
        deadline = time.monotonic() + 60
        while True:
            code, out = self._request(method, path, body, content_type, timeout)
            if code != 429 or time.monotonic() > deadline:
                return code, out
            time.sleep(1)

    def _request(self, method: str, path: str, body: Any, content_type: str, timeout: float) -> tuple[int, Any]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, {"message": raw.decode(errors="replace")}

    def ok(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        code, out = self.request(method, path, body, content_type)
        if code >= 300:
            raise KubeError(f"{method} {path}: {code} {out.get('message') if isinstance(out, dict) else out}")
        return out

    # ----------------------------------------------------------------------------- discovery

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], Resource]:
        """(apiVersion, kind) -> Resource, for every served top-level resource."""
        if self._resources is not None and not refresh:
            return self._resources
        found: dict[tuple[str, str], Resource] = {}
        versions = ["v1"] + [
            v["groupVersion"] for g in self.ok("GET", "/apis").get("groups", []) for v in g.get("versions", [])
        ]
        for gv in versions:
            path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            for r in self.ok("GET", path).get("resources", []):
                if "/" in r["name"]:
                    continue  # a subresource
                found[(gv, r["kind"])] = Resource(gv, r["kind"], r["name"], r["namespaced"], tuple(r.get("verbs", ())))
        self._resources = found
        return found

    def resource(self, api_version: str, kind: str) -> Resource:
        res = self.resources().get((api_version, kind)) or self.resources(refresh=True).get((api_version, kind))
        if res is None:
            raise KubeError(f"the API server serves no {api_version} {kind}")
        return res

    # -------------------------------------------------------------------------------- objects

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        res = self.resource(api_version, kind)
        code, out = self.request("GET", res.path(namespace, name))
        if code == 404:
            return None
        if code >= 300:
            raise KubeError(f"GET {api_version} {kind} {namespace}/{name}: {code} {out}")
        obj: dict[str, Any] = out
        return obj

    def list_all(self) -> list[dict[str, Any]]:
        """Every object of every listable resource type, in every namespace."""
        objs: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for res in self.resources(refresh=True).values():
            if "list" not in res.verbs or (res.plural, res.api_version.split("/")[0]) in seen:
                continue
            seen.add((res.plural, res.api_version.split("/")[0]))  # one version per group and resource
            out = self.ok("GET", res.path())
            for item in out.get("items", []):
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                objs.append(item)
        return objs

    def create(self, obj: dict[str, Any], dry_run: bool = False) -> tuple[int, Any]:
        res = self.resource(obj["apiVersion"], obj["kind"])
        path = res.path(obj["metadata"].get("namespace", "")) + ("?dryRun=All" if dry_run else "")
        return self.request("POST", path, obj)

    def merge_patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        res = self.resource(api_version, kind)
        return self.ok("PATCH", res.path(namespace, name), patch, "application/merge-patch+json")


def wait_until(what: str, check: Any, timeout: float = 60, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise KubeError(f"timed out waiting for {what}")
        time.sleep(every)


def pulumi_managed(obj: dict[str, Any]) -> bool:
    """Whether pulumi-kubernetes wrote (part of) this object: a field manager of its own."""
    return any(
        str(m.get("manager", "")).startswith("pulumi-kubernetes") for m in obj["metadata"].get("managedFields", [])
    )


def served(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as read back without what the API server adds to every object: status and the
    server's metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in SERVER_METADATA}
    return out
