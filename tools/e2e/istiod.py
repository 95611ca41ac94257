"""make e2e, the istiod phase (docs/e2e.md, "The istiod phase"): a real istiod consumes what meshbridge
deploys.

A multi-primary variant of the e2e stack (Pulumi.local.yaml with `mesh.model: multi-primary`,
backend-api discovered instead of imported) goes up through the real engine and Pulumi's Kubernetes
provider onto two API servers that authorize with RBAC, each with a kube-controller-manager beside it
(tools/build-kube.sh): the reader token Secrets get real tokens. Then one Istio `pilot-discovery`
(tools/build-istiod.sh) runs per cluster, as the chart's istiod Deployment says (its arguments and
environment, read back from the API server, as a kubelet would), under the chart's own `istiod`
service account. Only what a pod would get from elsewhere differs: its addresses (127.0.0.1) and
no webhooks (the API servers do not call them here: docs/e2e.md). It shows:

- `cacerts loaded`: istiod found our `cacerts` Secret in its cluster (its log line), loaded it as a
  plugged-in CA (and, at the end, the same CA in cert-manager's `kubernetes.io/tls` format: tls.crt,
  tls.key, ca.crt, as the cert-manager backend's Certificate writes it), and a CSR sent the way a
  sidecar's agent sends it (tools/build-istiod.sh: meshbridge-csr, with a token of the workload's
  service account) comes back signed by that cluster's intermediate, chaining to the stack's root
  (openssl verify);
- `remote reads`: each istiod reads the other cluster through the remote secret we render: the
  remote cluster is synced (/debug/clusterz), its Service is in the registry (/debug/registryz) with
  the endpoint its EndpointSlice holds (/debug/endpointShardz), authenticated by the token that
  cluster's controller-manager minted and authorized by the RBAC we grant;
- `reader refused`: with that token, writes (as dry runs), a token for another account and reading
  RBAC objects are refused (403); listing EndpointSlices, Services and Secrets is not (Secrets: Istio
  1.30's istiod watches them in every cluster it reads; components/discovery.py, reader_rules);
- `config store`: every ServiceEntry, DestinationRule, Gateway and AuthorizationPolicy we created
  in the cluster is in istiod's config store (/debug/configz), which converts each one.

Two faults must make the line fail, naming the cluster: a `cacerts` whose intermediate a foreign root
signed, and a reader ClusterRole without EndpointSlices. `pulumi up` then restores both (drift), and
`pulumi destroy` deletes the namespaces for real (the namespace controller runs).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import run as e2e
import yaml
from kube import ApiServer, ControllerManager, Kube, KubeError, stop_process, wait_until
from run import E2eError, Env, expect

from components.discovery import kubeconfig as remote_kubeconfig
from stacks.config.model import address_problem

CLUSTERS = ("cluster-a", "cluster-b")
ISTIO_NS = "istio-system"
INFRA_STACK = f"organization/{e2e.INFRA_PROJECT}/istiod-cluster-b"
# RBAC (the reader must be refused what we do not grant); the webhooks are still not called (no
# Service reaches an istiod here); the garbage collector runs in the controller-manager
APISERVER_FLAGS = (
    "--authorization-mode=Node,RBAC",
    "--disable-admission-plugins=ValidatingAdmissionWebhook,MutatingAdmissionWebhook",
)
# the workloads an application team would run: a Service without selector and its EndpointSlice
# (no kubelet runs pods here), and the service account a CSR is made for
WORKLOADS = {
    "cluster-a": {"service": ("demo", "hello", "10.10.0.7"), "account": ("default", "frontend")},
    "cluster-b": {"service": ("default", "backend-api", "10.20.0.7"), "account": ("demo", "client")},
}
ISTIO_KINDS = {"ServiceEntry", "DestinationRule", "Gateway", "AuthorizationPolicy", "PeerAuthentication", "Sidecar"}
TRUST_DOMAIN = "cluster.local"


class IstiodCheckError(E2eError):
    """An istiod check did not hold; the message names the cluster."""


def host_address() -> str:
    """This machine's private IPv4 address: the config refuses loopback API server endpoints (another
    cluster's istiod could not reach them), so the API servers of this phase listen on this one."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the outgoing address
        found.append(s.getsockname()[0])
    with contextlib.suppress(OSError):
        found += [str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    found += interface_addresses()  # no default route and no name for this host: ask each interface
    for address in found:
        if address_problem(address) is None:
            return address
    raise E2eError(f"the istiod phase needs a private non-loopback IPv4 address on this machine; found {found}")


def interface_addresses() -> list[str]:
    """The IPv4 address of each network interface (Linux SIOCGIFADDR; no privilege needed)."""
    out: list[str] = []
    with contextlib.suppress(OSError, ImportError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        import fcntl
        import struct

        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                req = struct.pack("256s", name.encode()[:15])
                out.append(socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]))  # SIOCGIFADDR
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ca_data(server: ApiServer) -> str:
    return base64.b64encode((server.data / "certs" / "apiserver.crt").read_bytes()).decode()


def endpoint(server: ApiServer) -> str:
    return server.client().server


def discovery_stack(charts: Path, servers: dict[str, ApiServer]) -> dict[str, Any]:
    """Pulumi.local.yaml as multi-primary: cluster-a's API server inline, cluster-b's from its infra
    stack (as an EKS project would export them); backend-api discovered through the remote secret."""
    local = yaml.safe_load((e2e.ROOT / "Pulumi.local.yaml").read_text())
    doc = e2e.e2e_stack(charts, local)
    cfg = doc["config"]
    cfg["meshbridge:mesh"]["model"] = "multi-primary"
    a, b = cfg["meshbridge:clusters"][:2]
    a["apiServer"] = {"endpoint": endpoint(servers["cluster-a"]), "caData": ca_data(servers["cluster-a"])}
    b["infraStack"] = {
        "name": INFRA_STACK,
        "outputs": {"kubeconfig": "kubeconfig", "apiServerEndpoint": "apiServerEndpoint", "apiServerCa": "apiServerCa"},
    }
    backend = next(s for s in cfg["meshbridge:services"] if s["name"] == "backend-api")
    backend["importMode"] = "discovery"
    backend.pop("alias", None)  # discovery imports under the service's own name
    return doc


def infra_stack(env: Env, work: Path, server: ApiServer) -> Path:
    infra = work / "infra"
    shutil.copytree(e2e.ROOT / "tools/e2e/infra", infra, ignore=shutil.ignore_patterns("__pycache__"))
    env.pulumi(infra, "stack", "init", INFRA_STACK)
    env.pulumi(infra, "config", "set", "--secret", "kubeconfig", server.kubeconfig_text(), "--stack", INFRA_STACK)
    env.pulumi(infra, "config", "set", "apiServerEndpoint", endpoint(server), "--stack", INFRA_STACK)
    env.pulumi(infra, "config", "set", "apiServerCa", ca_data(server), "--stack", INFRA_STACK)
    env.pulumi(infra, "up", "--yes", "--skip-preview", "--stack", INFRA_STACK, program=True)
    return infra


def create_workloads(servers: dict[str, ApiServer]) -> None:
    for cluster, spec in WORKLOADS.items():
        kube = servers[cluster].client()
        ns, name, ip = spec["service"]
        objs: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-e2e", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            },
        ]
        acct_ns, acct = spec["account"]
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": acct, "namespace": acct_ns}})
        for obj in objs:
            code, out = kube.create(obj)
            expect(code in (201, 409), f"{cluster}: creating {obj['kind']} {name}: {code} {out}")


def service_token(kube: Kube, namespace: str, account: str, audience: str | None = None) -> str:
    """A bound token of a service account (TokenRequest), as the kubelet projects into a pod."""
    spec: dict[str, Any] = {"expirationSeconds": 3600}
    if audience:
        spec["audiences"] = [audience]
    out = kube.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    return str(out["status"]["token"])


class Istiod:
    """One pilot-discovery against one cluster's API server, configured as the chart's Deployment."""

    def __init__(self, binary: str, cluster: str, server: ApiServer, folder: Path) -> None:
        self.binary = binary
        self.cluster = cluster
        self.server = server
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.http = self.grpc_tls = 0
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def log(self) -> Path:
        return self.folder / "istiod.log"

    def start(self) -> None:
        kube = self.server.client()
        deployment = kube.get("apps/v1", "Deployment", ISTIO_NS, "istiod")
        expect(deployment is not None, f"{self.cluster}: no istiod Deployment in {ISTIO_NS}")
        assert deployment is not None
        pod = deployment["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "discovery")
        account = pod.get("serviceAccountName", "istiod")
        fields = {
            "metadata.name": f"istiod-e2e-{self.cluster}",
            "metadata.namespace": ISTIO_NS,
            "spec.serviceAccountName": account,
            "spec.nodeName": "e2e",
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        env: dict[str, str] = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.folder)}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "fieldRef" in (item.get("valueFrom") or {}):
                env[item["name"]] = fields.get(item["valueFrom"]["fieldRef"]["fieldPath"], "")
            # resourceFieldRef (GOMAXPROCS, GOMEMLIMIT from the pod's limits): left to the runtime
        cacerts = self.folder / "cacerts"
        shutil.rmtree(cacerts, ignore_errors=True)
        cacerts.mkdir()
        env.update(
            {
                # the cacerts Secret is read from the API server (not mounted by a kubelet): istiod's
                # own path for an istiod outside the cluster, which logs that it found it
                "USE_REMOTE_CERTS": "true",
                "ROOT_CA_DIR": str(cacerts),
                # no webhook configuration to patch: nothing calls a webhook here
                "INJECTION_WEBHOOK_CONFIG_NAME": "",
                "VALIDATION_WEBHOOK_CONFIG_NAME": "",
            }
        )
        # the chart's service account, with a token as the kubelet would project it
        token = service_token(kube, ISTIO_NS, account)
        kubeconfig = self.folder / "kubeconfig"
        # shaped as the program's remote secrets are (the same function)
        kubeconfig.write_text(remote_kubeconfig(self.cluster, kube.server, ca_data(self.server), token))
        kubeconfig.chmod(0o600)
        self.http, self.grpc_tls = free_port(), free_port()
        args = list(container.get("args", []))
        cmd = [
            self.binary,
            *args,
            f"--kubeconfig={kubeconfig}",
            f"--httpAddr=127.0.0.1:{self.http}",
            f"--grpcAddr=127.0.0.1:{free_port()}",
            f"--secureGRPCAddr=127.0.0.1:{self.grpc_tls}",
            f"--httpsAddr=127.0.0.1:{free_port()}",
            f"--monitoringAddr=127.0.0.1:{free_port()}",
            f"--ctrlz_port={free_port()}",
            # mesh config and networks from the chart's `istio` ConfigMap (no file is mounted)
            f"--meshConfig={self.folder / 'no-mesh-file'}",
            f"--networksConfig={self.folder / 'no-networks-file'}",
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise IstiodCheckError(f"{self.cluster}: istiod exited ({self.process.returncode}): {self.log_tail()}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/ready", timeout=5) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(1)
        raise IstiodCheckError(f"{self.cluster}: istiod not ready in 180 s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 30)
            self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, n: int = 8) -> str:
        lines = [ln for ln in self.log_text().splitlines() if "error" in ln.lower() or "fatal" in ln.lower()]
        return " | ".join((lines or self.log_text().splitlines())[-n:])

    def debug(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/debug/{path}", timeout=30) as resp:
            return json.loads(resp.read() or b"null")


# ------------------------------------------------------------------------------------ checks


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


# istiod's log line when `cacerts` is in cert-manager's kubernetes.io/tls format (tls.crt, tls.key,
# ca.crt: pilot/pkg/bootstrap/istio_ca.go, detectSigningCABundleAndCRL)
TLS_FORMAT_LOG = "Using kubernetes.io/tls secret type for signing ca files"


def cert_manager_cacerts(data: dict[str, str]) -> dict[str, str]:
    """The cacerts files as cert-manager writes them for a Certificate (ca.backend cert-manager,
    components/certmanager.py) issued by a CA issuer holding the root: tls.crt the intermediate,
    tls.key its key, ca.crt the root."""
    return {"tls.crt": data["ca-cert.pem"], "tls.key": data["ca-key.pem"], "ca.crt": data["root-cert.pem"]}


def check_cacerts(istiod: Istiod, csr_client: str, root_pem: str, work: Path) -> None:
    """istiod loaded our cacerts and signs with the cluster's intermediate, chaining to the root;
    `cacerts` in either format istiod reads: Istio's (ca-cert.pem, ...) or cert-manager's (tls.crt, ...)."""
    cluster = istiod.cluster
    log = istiod.log_text()
    kube = istiod.server.client()
    secret = kube.get("v1", "Secret", ISTIO_NS, "cacerts") or {}
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    tls_format = "tls.crt" in data
    if tls_format:
        data = {"ca-cert.pem": data["tls.crt"], "root-cert.pem": data.get("ca.crt", "")}
    loaded = "cacerts Secret found in config cluster" in log and "Use local CA certificate" in log
    if not loaded or (tls_format and TLS_FORMAT_LOG not in log):
        raise IstiodCheckError(f"{cluster}: istiod did not load the cacerts Secret as its CA: {istiod.log_tail()}")
    if data.get("root-cert.pem", "").strip() != root_pem.strip():
        raise IstiodCheckError(f"{cluster}: the cacerts root is not the stack's root certificate")
    ns, account = WORKLOADS[cluster]["account"]
    folder = work / f"csr-{cluster}"
    folder.mkdir(exist_ok=True)
    (folder / "token").write_text(service_token(kube, ns, account, audience="istio-ca"))
    (folder / "root.pem").write_text(root_pem)
    san = f"spiffe://{TRUST_DOMAIN}/ns/{ns}/sa/{account}"
    done = subprocess.run(
        [
            csr_client,
            "--addr",
            f"127.0.0.1:{istiod.grpc_tls}",
            "--root",
            str(folder / "root.pem"),
            "--token",
            str(folder / "token"),
            "--san",
            san,
            "--cluster",
            cluster,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise IstiodCheckError(f"{cluster}: istiod signed no workload certificate: {done.stderr.strip()[-400:]}")
    chain = pem_blocks(done.stdout)
    if len(chain) < 2:
        raise IstiodCheckError(f"{cluster}: istiod returned {len(chain)} certificates, not leaf and intermediate")
    (folder / "leaf.pem").write_text(chain[0])
    (folder / "rest.pem").write_text("".join(chain[1:]))
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(folder / "root.pem"),
            "-untrusted",
            str(folder / "rest.pem"),
            str(folder / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if verified.returncode != 0:
        raise IstiodCheckError(
            f"{cluster}: the workload certificate does not chain to the root: {verified.stderr.strip()}"
        )
    if chain[1].strip() != data.get("ca-cert.pem", "").strip():
        raise IstiodCheckError(f"{cluster}: the workload certificate is not signed by the cluster's ca-cert.pem")
    sans = e2e.openssl("x509", "-in", str(folder / "leaf.pem"), "-noout", "-ext", "subjectAltName")
    if f"URI:{san}" not in sans:
        raise IstiodCheckError(f"{cluster}: the workload certificate names {sans.strip()!r}, not {san}")


def check_remote_reads(istiod: Istiod, target: str, timeout: float = 90) -> None:
    """istiod of `istiod.cluster` reads `target` through the remote secret: synced, the target's
    Service in the registry with the target's endpoint."""
    pair = f"{istiod.cluster}<-{target}"
    ns, name, ip = WORKLOADS[target]["service"]
    host = f"{name}.{ns}.svc.cluster.local"
    deadline = time.monotonic() + timeout
    seen = "nothing"
    while time.monotonic() < deadline:
        clusters = {c.get("id"): c.get("syncStatus") for c in istiod.debug("clusterz") or []}
        registry = [s for s in istiod.debug("registryz") or [] if s.get("hostname") == host]
        vips = (registry[0].get("clusterVIPs") or {}).get("Addresses") or {} if registry else {}
        shards = json.dumps((istiod.debug("endpointShardz") or {}).get(host) or {})
        shown = "seen" if ip in shards else "not seen"
        seen = f"clusters {clusters}, {host} in the registry for {sorted(vips)}, endpoint {ip} {shown}"
        if clusters.get(target) == "synced" and target in vips and ip in shards:
            return
        time.sleep(2)
    raise IstiodCheckError(
        f"{pair}: istiod did not read {target} through the remote secret in {timeout:.0f} s: {seen}; "
        f"{istiod.log_tail(4)}"
    )


def reader_client(holder: ApiServer, target: str) -> Kube:
    """The client the holder's remote secret for `target` describes (server, CA, reader token)."""
    secret = holder.client().get("v1", "Secret", ISTIO_NS, f"istio-remote-secret-{target}")
    expect(secret is not None, f"{holder.cluster}: no remote secret for {target}")
    assert secret is not None
    config = base64.b64decode(secret["data"][target]).decode()
    return Kube.from_kubeconfig(config)


def refused_requests() -> list[tuple[str, str, Any]]:
    """What the reader token must not do in the cluster it reads (writes as dry runs: authorization
    comes first, so nothing changes even if one were allowed)."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e2e-probe", "namespace": ISTIO_NS}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-probe", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    token = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    return [
        ("POST", f"/api/v1/namespaces/{ISTIO_NS}/secrets?dryRun=All", secret),
        ("DELETE", f"/api/v1/namespaces/{ISTIO_NS}/secrets/cacerts?dryRun=All", None),
        ("POST", "/api/v1/namespaces/default/pods?dryRun=All", pod),
        ("DELETE", "/api/v1/namespaces/default/services/kubernetes?dryRun=All", None),
        ("POST", f"/api/v1/namespaces/{ISTIO_NS}/serviceaccounts/istiod/token?dryRun=All", token),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", None),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings", None),
    ]


def check_reader_rights(holder: ApiServer, target: str) -> int:
    """The reader token reads what istiod needs and may do nothing else tried here: no write, no
    token for another account, no RBAC object. Returns the number of refusals."""
    reader = reader_client(holder, target)
    pair = f"{holder.cluster}<-{target}"
    for path in ("/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/services", "/api/v1/secrets"):
        code, _ = reader.request("GET", path)
        if code != 200:  # Secrets too: istiod 1.30 needs them (components/discovery.py, reader_rules)
            raise IstiodCheckError(f"{pair}: the reader token may not list {path} ({code})")
    refused = refused_requests()
    for method, path, body in refused:
        code, _ = reader.request(method, path, body)
        if code != 403:
            raise IstiodCheckError(f"{pair}: the reader token was not refused {method} {path} ({code})")
    return len(refused)


def check_config_store(istiod: Istiod, expected: e2e.Expected) -> int:
    configs = istiod.debug("configz") or []
    held = {(c.get("kind"), c["metadata"].get("namespace", ""), c["metadata"]["name"]) for c in configs}
    ours = {k for k in expected.own.get(istiod.cluster, {}) if k[0] in ISTIO_KINDS}
    missing = sorted(ours - held)
    if missing:
        raise IstiodCheckError(f"{istiod.cluster}: istiod's config store lacks {missing[:5]}")
    return len(ours)


# ------------------------------------------------------------------------------------ faults


def foreign_cacerts(work: Path, data: dict[str, str]) -> dict[str, str]:
    """`data` with an intermediate (and key) that another root signed."""
    d = Path(tempfile.mkdtemp(dir=work))
    e2e.openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/O=Foreign/CN=Foreign Root",
        "-keyout",
        str(d / "root.key"),
        "-out",
        str(d / "root.pem"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    e2e.openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/O=Foreign/CN=Foreign Intermediate",
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.csr"),
    )
    (d / "ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    e2e.openssl(
        "x509",
        "-req",
        "-in",
        str(d / "ca.csr"),
        "-CA",
        str(d / "root.pem"),
        "-CAkey",
        str(d / "root.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(d / "ext"),
        "-out",
        str(d / "ca.pem"),
    )
    cert, key = (d / "ca.pem").read_text(), (d / "ca.key").read_text()
    # the root stays ours: only the intermediate is not signed by it
    return {**data, "ca-cert.pem": cert, "ca-key.pem": key, "cert-chain.pem": cert + data["root-cert.pem"]}


def namespace_gone(kube: Kube) -> bool:
    return kube.request("GET", f"/api/v1/namespaces/{ISTIO_NS}")[0] == 404


def expect_failure(what: str, cluster_named: str, check: Any, because: str) -> str:
    """`check` must fail naming `cluster_named`, and for the fault's own reason (`because`, a text of
    istiod's or of the check's message): a port race or a timeout is not the fault caught."""
    try:
        check()
    except IstiodCheckError as exc:
        print(f"e2e istiod fault {what}: {str(exc)[:300]}", file=sys.stderr, flush=True)
        expect(cluster_named in str(exc), f"{what}: the istiod line failed without naming {cluster_named}: {exc}")
        expect(because in str(exc), f"{what}: the istiod line failed for another reason than {because!r}: {exc}")
        return f"{what} ({cluster_named})"
    raise E2eError(f"{what}: the istiod checks passed; they must fail")


# ------------------------------------------------------------------------------------ the phase


def phase(work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    env = Env(work)
    charts = env.charts()
    address = host_address()
    servers = {c: ApiServer(env.apiserver, c, work / "kube" / c, address, APISERVER_FLAGS) for c in CLUSTERS}
    managers = {c: ControllerManager(env.controller_manager, s) for c, s in servers.items()}
    istiods: dict[str, Istiod] = {}
    try:
        for c in CLUSTERS:
            servers[c].start()
            managers[c].start()
        return run_phase(env, work, charts, servers, istiods)
    finally:
        for i in istiods.values():
            i.stop()
        for c in CLUSTERS:
            managers[c].stop()
            servers[c].stop()


def run_phase(env: Env, work: Path, charts: Path, servers: dict[str, ApiServer], istiods: dict[str, Istiod]) -> str:
    t0 = time.monotonic()
    infra = infra_stack(env, work, servers["cluster-b"])
    project = e2e.program_copy(work, "mesh", discovery_stack(charts, servers))
    env.pulumi(project, "stack", "init", e2e.MESH_STACK)
    e2e.set_kubeconfigs(env, project, servers, {"cluster-a": 0})
    expected = e2e.Expected(project, work / "synth")
    e2e.create_namespaces(servers, e2e.team_namespaces(expected))
    create_workloads(servers)
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    outputs = json.loads(env.pulumi(project, "stack", "output", "--json", "--show-secrets"))
    root_pem = outputs["rootCertificatePem"]
    # every token Secret got its token from the controller-manager (the provider awaited it)
    for c in CLUSTERS:
        token_secret = servers[c].client().get("v1", "Secret", ISTIO_NS, "meshbridge-istio-reader-token") or {}
        expect(bool((token_secret.get("data") or {}).get("token")), f"{c}: the reader token Secret has no token")

    def start_all() -> None:
        for c in CLUSTERS:
            istiods[c] = Istiod(env.pilot_discovery, c, servers[c], work / "istiod" / c)
            istiods[c].start()

    refusals = 0

    def check_all() -> int:
        nonlocal refusals
        count = 0
        for c in CLUSTERS:
            other = next(o for o in CLUSTERS if o != c)
            check_cacerts(istiods[c], env.csr_client, root_pem, work)
            check_remote_reads(istiods[c], other)
            refusals = check_reader_rights(servers[c], other)
            count += check_config_store(istiods[c], expected)
        return count

    def restart(cluster: str) -> None:
        istiods[cluster].stop()
        istiods[cluster].start()

    start_all()
    configs = check_all()

    # fault 1: the reader's ClusterRole in cluster-b without EndpointSlices
    b = servers["cluster-b"].client()
    role = b.get("rbac.authorization.k8s.io/v1", "ClusterRole", "", "meshbridge-istio-reader") or {}
    rules = [r for r in role.get("rules", []) if "endpointslices" not in r.get("resources", [])]
    expect(len(rules) < len(role.get("rules", [])), "cluster-b: the reader ClusterRole grants no EndpointSlices")
    b.ok("PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/meshbridge-istio-reader", {**role, "rules": rules})

    def no_slices() -> None:
        restart("cluster-a")
        check_remote_reads(istiods["cluster-a"], "cluster-b", timeout=60)

    caught = [
        expect_failure(
            "reader without EndpointSlices", "cluster-a<-cluster-b", no_slices, "endpoint 10.20.0.7 not seen"
        )
    ]

    # fault 2: cluster-a's cacerts with an intermediate that the root did not sign
    a = servers["cluster-a"].client()
    cacerts = a.get("v1", "Secret", ISTIO_NS, "cacerts") or {}
    data = {k: base64.b64decode(v).decode() for k, v in (cacerts.get("data") or {}).items()}
    bad = {k: base64.b64encode(v.encode()).decode() for k, v in foreign_cacerts(work, data).items()}
    a.merge_patch("v1", "Secret", ISTIO_NS, "cacerts", {"data": bad})

    def broken_ca() -> None:
        restart("cluster-a")
        check_cacerts(istiods["cluster-a"], env.csr_client, root_pem, work)

    caught.append(
        expect_failure("foreign intermediate", "cluster-a", broken_ca, "certificate signed by unknown authority")
    )

    # both restored by pulumi: refresh sees the drift, up writes our objects back
    env.pulumi(project, "refresh", "--yes", "--skip-preview", program=True)
    env.pulumi(project, "up", "--yes", "--skip-preview", program=True)
    restart("cluster-a")
    check_all()

    # cert-manager's format (ca.backend cert-manager): cluster-a's cacerts as cert-manager writes it,
    # a kubernetes.io/tls Secret (its type cannot change in place: replaced); istiod must load it
    # as its CA (its own log line for that format) and sign with the same intermediate
    cacerts = a.get("v1", "Secret", ISTIO_NS, "cacerts") or {}
    data = {k: base64.b64decode(v).decode() for k, v in (cacerts.get("data") or {}).items()}
    a.ok("DELETE", f"/api/v1/namespaces/{ISTIO_NS}/secrets/cacerts")
    a.ok(
        "POST",
        f"/api/v1/namespaces/{ISTIO_NS}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cacerts", "namespace": ISTIO_NS},
            "type": "kubernetes.io/tls",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in cert_manager_cacerts(data).items()},
        },
    )
    restart("cluster-a")
    check_cacerts(istiods["cluster-a"], env.csr_client, root_pem, work)

    for i in istiods.values():
        i.stop()
    env.pulumi(project, "destroy", "--yes", "--skip-preview", "--exclude-protected", program=True)
    for c in CLUSTERS:
        try:
            wait_until(f"{c}: namespace {ISTIO_NS} deleted", partial(namespace_gone, servers[c].client()), 180, 2)
        except KubeError as exc:
            raise E2eError(f"{c}: {ISTIO_NS} was not deleted after destroy (namespace controller): {exc}") from exc
    env.pulumi(infra, "destroy", "--yes", "--skip-preview", "--stack", INFRA_STACK, program=True)
    return (
        f"e2e istiod: cacerts loaded x{len(CLUSTERS)}, workload cert chains to root, remote reads ok "
        f"({', '.join(f'{c}<-{o}' for c in CLUSTERS for o in CLUSTERS if o != c)}), reader refused "
        f"{refusals} writes/tokens/RBAC reads (Secrets readable: Istio's rule), "
        f"{configs} Istio objects in istiod's config store; faults caught: {', '.join(caught)}; "
        f"restored by pulumi up; cert-manager's kubernetes.io/tls cacerts loaded (cluster-a); "
        f"{ISTIO_NS} deleted on destroy ({time.monotonic() - t0:.0f} s)"
    )
