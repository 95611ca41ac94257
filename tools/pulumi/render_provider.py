"""pulumi-resource-kubernetes, render mode only: meshbridge's stand-in for pulumi-kubernetes.

The Go module proxy here refuses every version of `github.com/pulumi/pulumi-kubernetes/provider/v4`
that was asked for (tools/pulumi/README.md), so the real provider cannot be built. `make e2e`
needs a provider for the `kubernetes:` resources of the program on the real engine, and needs it
only in the one mode of pulumi-kubernetes that touches no cluster: `renderYamlToDirectory`. This
plugin implements that mode and nothing else:

- a provider must set `renderYamlToDirectory` (a provider without it is refused at CheckConfig:
  this plugin never talks to a cluster); `kubeconfig`, `context` and the other settings are kept
  in state as given and otherwise ignored, as pulumi-kubernetes does in render mode;
- every `kubernetes:<group>/<version>:<Kind>` resource is written to
  `<dir>/0-crd/` (CustomResourceDefinitions) or `<dir>/1-manifest/` as
  `<apiVersion>-<kind>-<namespace>-<name>.yaml`, its outputs are its inputs (secrets stay secret in
  state), a change of `metadata.name` or `metadata.namespace` replaces it, anything else updates it;
- `kubernetes:helm.sh/v4:Chart` is a component (Construct), as in pulumi-kubernetes: the chart comes
  from a local directory (`chart` is a path; no repository, no OCI registry) and is rendered by
  Helm's own library (`meshbridge-verify helm-template`, verify/), every object becoming a child
  resource named `<chart resource name>:<namespace>/<name>`.

What it does not do is what a cluster does: no server-side validation, no defaulting, no await.
Run by the engine as `pulumi-resource-kubernetes ENGINE_ADDRESS`, it prints its port and serves
until killed. Environment: MESHBRIDGE_HELM_TEMPLATE, the `meshbridge-verify` binary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import grpc
import pulumi
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.provider import ConstructResult, Provider
from pulumi.provider.server import ProviderServicer
from pulumi.runtime import proto
from pulumi.runtime.proto import provider_pb2_grpc


def _sdk_pin() -> str:
    """The pulumi-kubernetes pin of requirements.txt: the SDK version this stand-in answers for."""
    requirements = Path(__file__).resolve().parents[2] / "requirements.txt"
    for line in requirements.read_text().splitlines():
        if line.startswith("pulumi-kubernetes=="):
            return line.split("==", 1)[1].strip()
    return "0.0.0"


VERSION = f"{_sdk_pin()}+meshbridge-render"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
# how secret and unknown values travel in a protobuf Struct (sdk/go/common/resource/plugin/rpc.go)
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# kinds without a namespace (a chart's namespaced objects without one get the release namespace)
CLUSTER_SCOPED = {
    "APIService",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "Namespace",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
}
# a change of these replaces the object (it is another object to the API server)
REPLACE_KEYS = ("apiVersion", "kind", "metadata.name", "metadata.namespace")


def plain(value: Any) -> Any:
    """A Struct value as the manifest holds it: secrets unwrapped, whole numbers as integers."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items() if k != "__inputs"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_dict(struct: Optional[struct_pb2.Struct]) -> dict[str, Any]:
    return json_format.MessageToDict(struct) if struct is not None else {}


def lookup(obj: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None  # type: ignore[assignment]
    return obj


def manifest_path(root: str, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    parts = [obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")]
    name = re.sub(r"[^a-z0-9_.-]", "_", "-".join(str(p).lower() for p in parts if p)) + ".yaml"
    folder = "0-crd" if obj.get("kind") == "CustomResourceDefinition" else "1-manifest"
    return os.path.join(root, folder, name)


def write_manifest(path: str, obj: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(obj, f, sort_keys=True)
    os.replace(tmp, path)


def unknown_in(value: Any) -> bool:
    if isinstance(value, dict):
        return any(unknown_in(v) for v in value.values())
    if isinstance(value, list):
        return any(unknown_in(v) for v in value)
    return value == UNKNOWN


class RenderServicer(ProviderServicer):
    """ProviderServicer (Construct, from the Python SDK) plus the CRUD of render mode."""

    def __init__(self, provider: ChartProvider, engine_address: str) -> None:
        super().__init__(provider, [], engine_address)
        self.directory: Optional[str] = None
        self.construct_lock = asyncio.Lock()

    async def GetPluginInfo(self, request, context) -> proto.PluginInfo:  # noqa: N802 - gRPC method name
        return proto.PluginInfo(version=VERSION)

    async def CheckConfig(self, request, context) -> proto.CheckResponse:  # noqa: N802 - gRPC method name
        news = to_dict(request.news)
        failures = []
        directory = news.get("renderYamlToDirectory")
        if not directory:
            failures.append(
                proto.CheckFailure(
                    property="renderYamlToDirectory",
                    reason="this pulumi-resource-kubernetes is meshbridge's render-only stand-in "
                    "(tools/pulumi/render_provider.py): set renderYamlToDirectory; it never reaches a cluster",
                )
            )
        return proto.CheckResponse(inputs=request.news, failures=failures)

    async def DiffConfig(self, request, context) -> proto.DiffResponse:  # noqa: N802 - gRPC method name
        return self._diff(to_dict(request.old_inputs or request.olds), to_dict(request.news), replace_keys=())

    async def Configure(self, request, context) -> proto.ConfigureResponse:  # noqa: N802 - gRPC method name
        args = to_dict(request.args) if request.HasField("args") else {}
        directory = args.get("renderYamlToDirectory") or request.variables.get(
            "kubernetes:config:renderYamlToDirectory"
        )
        self.directory = plain(directory) if directory and directory != UNKNOWN else None
        return proto.ConfigureResponse(
            acceptSecrets=True, supportsPreview=False, acceptResources=True, acceptOutputs=True
        )

    async def Check(self, request, context) -> proto.CheckResponse:  # noqa: N802 - gRPC method name
        news = to_dict(request.news)
        failures = []
        if not lookup(news, "metadata.name"):
            failures.append(
                proto.CheckFailure(property="metadata.name", reason="the render-only stand-in needs a name")
            )
        return proto.CheckResponse(inputs=request.news, failures=failures)

    async def Diff(self, request, context) -> proto.DiffResponse:  # noqa: N802 - gRPC method name
        olds = to_dict(request.old_inputs) if request.HasField("old_inputs") else to_dict(request.olds)
        return self._diff(olds, to_dict(request.news), replace_keys=REPLACE_KEYS)

    @staticmethod
    def _diff(olds: dict[str, Any], news: dict[str, Any], replace_keys: tuple[str, ...]) -> proto.DiffResponse:
        old, new = plain(olds), plain(news)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if not changed:
            return proto.DiffResponse(changes=proto.DiffResponse.DIFF_NONE)
        replaces = [k for k in replace_keys if lookup(old, k) != lookup(new, k)]
        return proto.DiffResponse(changes=proto.DiffResponse.DIFF_SOME, diffs=changed, replaces=replaces)

    def _path(self, obj: dict[str, Any]) -> str:
        if not self.directory:
            raise RuntimeError("the provider was not configured with renderYamlToDirectory")
        return manifest_path(self.directory, obj)

    @staticmethod
    def _id(obj: dict[str, Any]) -> str:
        ns, name = lookup(obj, "metadata.namespace"), lookup(obj, "metadata.name")
        return f"{ns}/{name}" if ns else str(name)

    async def Create(self, request, context) -> proto.CreateResponse:  # noqa: N802 - gRPC method name
        obj = plain(to_dict(request.properties))
        if not request.preview:
            write_manifest(self._path(obj), obj)
        return proto.CreateResponse(id=self._id(obj), properties=request.properties)

    async def Read(self, request, context) -> proto.ReadResponse:  # noqa: N802 - gRPC method name
        return proto.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    async def Update(self, request, context) -> proto.UpdateResponse:  # noqa: N802 - gRPC method name
        old, new = plain(to_dict(request.olds)), plain(to_dict(request.news))
        if not request.preview:
            old_path, new_path = self._path(old), self._path(new)
            write_manifest(new_path, new)
            if old_path != new_path and os.path.exists(old_path):
                os.remove(old_path)
        return proto.UpdateResponse(properties=request.news)

    async def Delete(self, request, context) -> empty_pb2.Empty:  # noqa: N802 - gRPC method name
        path = self._path(plain(to_dict(request.properties)))
        if os.path.exists(path):
            os.remove(path)
        return empty_pb2.Empty()

    async def Construct(self, request, context) -> proto.ConstructResponse:  # noqa: N802 - gRPC method name
        # the SDK's Construct sets process-wide runtime settings: one chart at a time
        async with self.construct_lock:
            return await super().Construct(request, context)


def render_chart(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's objects, rendered by Helm's library (meshbridge-verify helm-template)."""
    chart = inputs.get("chart")
    if not isinstance(chart, str) or not os.path.isdir(chart) or inputs.get("repositoryOpts"):
        raise ValueError(
            f"chart {chart!r}: the render-only stand-in renders charts from a local directory only "
            "(meshbridge:mesh.istio.chartDirectory)"
        )
    binary = os.environ.get("MESHBRIDGE_HELM_TEMPLATE")
    if not binary:
        raise ValueError("MESHBRIDGE_HELM_TEMPLATE (the meshbridge-verify binary) is not set")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values:
        json.dump(plain(inputs.get("values") or {}), values)
        values.flush()
        cmd = [binary, "helm-template", "--chart", chart, "--release", inputs["name"]]
        cmd += ["--namespace", inputs.get("namespace") or "default", "--values", values.name]
        if inputs.get("skipCrds"):
            cmd.append("--skip-crds")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"chart {chart}: {done.stderr.strip()}")
    objects: list[dict[str, Any]] = json.loads(done.stdout)
    return objects


def child_type(obj: dict[str, Any]) -> str:
    group_version = obj["apiVersion"]
    return f"kubernetes:{group_version if '/' in group_version else 'core/' + group_version}:{obj['kind']}"


class Chart(pulumi.ComponentResource):
    """`kubernetes:helm.sh/v4:Chart`: one child resource per rendered object."""

    def __init__(self, name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(CHART_TYPE, name, None, opts)
        if any(isinstance(v, pulumi.Output) for v in inputs.values()):
            raise ValueError(f"{name}: the render-only stand-in needs the chart's inputs known at construction")
        inputs = dict(inputs)
        inputs.setdefault("name", name)
        namespace = inputs.get("namespace") or "default"
        crds: list[pulumi.Resource] = []
        self.resources: list[pulumi.Resource] = []
        for obj in render_chart(inputs):
            meta = obj.setdefault("metadata", {})
            if obj["kind"] not in CLUSTER_SCOPED and not meta.get("namespace"):
                meta["namespace"] = namespace
            key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
            is_crd = obj["kind"] == "CustomResourceDefinition"
            child = pulumi.CustomResource(
                child_type(obj),
                f"{name}:{key}",
                props=obj,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[] if is_crd else list(crds)),
            )
            (crds if is_crd else self.resources).append(child)
        self.resources = crds + self.resources
        self.register_outputs({"resources": self.resources})


class ChartProvider(Provider):
    def __init__(self) -> None:
        super().__init__(VERSION)

    def construct(
        self, name: str, resource_type: str, inputs: pulumi.Inputs, options: Optional[pulumi.ResourceOptions] = None
    ) -> ConstructResult:
        if resource_type != CHART_TYPE:
            raise ValueError(f"the render-only stand-in has no component {resource_type}")
        chart = Chart(name, dict(inputs), options or pulumi.ResourceOptions())
        return ConstructResult(urn=chart.urn, state={"resources": chart.resources})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine")
    known, _ = parser.parse_known_args(argv)

    async def serve() -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(RenderServicer(ChartProvider(), known.engine), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
