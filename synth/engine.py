"""Run the real meshbridge program on Pulumi's mock engine and record what it registers.

`run_program` executes `__main__.py` exactly as `pulumi up` would (same config, same stack name),
but every RegisterResource/ReadResource goes to a recording `MockMonitor`; `run_component` does the
same for one component built by a function (its tests: tests/test_components.py). Values that only a
provider knows after apply (ARNs, DNS names, ids) come back as placeholders naming the resource
and the property, e.g. `${cluster-b-nlb.dnsName}`. Tests plug fakes in (`fakes`), for example
the tls fake that makes real keys and certificates.
"""

from __future__ import annotations

import base64
import json
import runpy
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import ROOT, SETTINGS
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "meshbridge"
SECRET = "[secret]"
SECRET_CONFIG_PLACEHOLDER = "[secret from the stack file; encrypted, not readable offline]"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
# pulumi-kubernetes' client-side chart render (components/helm.py); synth renders the charts apart
# (synth/judge.py, with Istio's own Helm renderer), so the mock answers it with one stand-in object
# per chart, recorded as the chart itself: what waits for a chart shows the chart as its dependency
HELM_TEMPLATE = "kubernetes:helm:template"
CHART_STAND_IN = {"apiVersion": "synth.meshbridge.dev/v1", "kind": "RenderedChart"}
CHART_STAND_IN_TYPE = "kubernetes:synth.meshbridge.dev/v1:RenderedChart"
SA_TOKEN_SECRET = "kubernetes.io/service-account-token"


def placeholder(resource: str, prop: str) -> str:
    """The explicit stand-in for a value that exists only after `pulumi up`."""
    return "${" + f"{resource}.{prop}" + "}"


# Properties that the provider computes, per resource type: what synth returns as placeholders.
# A value is a property name, or (name, builder) for structured values.
COMPUTED: dict[str, list[Any]] = {
    "aws:lb/loadBalancer:LoadBalancer": ["arn", "arnSuffix", "dnsName", "zoneId"],
    "aws:lb/targetGroup:TargetGroup": ["arn", "arnSuffix"],
    "aws:lb/listener:Listener": ["arn"],
    "aws:ec2/securityGroup:SecurityGroup": ["arn"],
    "aws:ec2/vpcEndpointService:VpcEndpointService": ["arn", "serviceName", "baseEndpointDnsNames"],
    "aws:ec2/vpcEndpoint:VpcEndpoint": ["arn", "dnsEntries"],
    "aws:route53/zone:Zone": ["arn", "zoneId", "nameServers"],
    "aws:route53/record:Record": ["fqdn"],
    "aws:acmpca/certificateAuthority:CertificateAuthority": ["arn", "certificateSigningRequest"],
    "aws:acmpca/certificate:Certificate": ["arn", "certificate", "certificateChain"],
    "aws:iam/role:Role": ["arn", "uniqueId"],
    "tls:index/privateKey:PrivateKey": ["privateKeyPem", "publicKeyPem", "privateKeyOpenssh", "publicKeyOpenssh"],
    "tls:index/selfSignedCert:SelfSignedCert": ["certPem", "validityStartTime", "validityEndTime"],
    "tls:index/certRequest:CertRequest": ["certRequestPem"],
    "tls:index/locallySignedCert:LocallySignedCert": ["certPem", "validityStartTime", "validityEndTime"],
}
# computed values the provider marks secret
SECRET_COMPUTED = {
    ("tls:index/privateKey:PrivateKey", "privateKeyPem"),
    ("tls:index/privateKey:PrivateKey", "privateKeyOpenssh"),
}


def computed_value(typ: str, name: str, prop: str) -> Any:
    if prop == "dnsEntries":
        return [
            {
                "dnsName": placeholder(name, "dnsEntries[0].dnsName"),
                "hostedZoneId": placeholder(name, "dnsEntries[0].hostedZoneId"),
            }
        ]
    if prop in ("baseEndpointDnsNames", "nameServers"):
        return [placeholder(name, f"{prop}[0]")]
    value: Any = placeholder(name, prop)
    if (typ, prop) in SECRET_COMPUTED:
        value = {rpc._special_sig_key: rpc._special_secret_sig, "value": value}
    return value


Fake = Callable[[pmocks.MockResourceArgs], Optional[tuple[Optional[str], dict[str, Any]]]]


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    remote: bool
    provider: str
    providers: dict[str, str]
    dependencies: list[str]
    inputs: dict[str, Any]
    state: dict[str, Any]
    protect: bool
    additional_secret_outputs: list[str]
    read: bool = False
    # names (or URNs) this resource was known by before (`aliases` option)
    aliases: list[str] = field(default_factory=list)
    # replacement and deletion options: what the engine does when an input changes or on delete
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    # how many `transforms` callbacks the resource registered (applied by the engine to its children)
    transforms: int = 0


class SynthMocks(pmocks.Mocks):
    def __init__(
        self,
        stack_outputs: Optional[dict[str, dict[str, Any]]],
        infra_output_names: dict[str, dict[str, str]],
        fakes: list[Fake],
    ):
        self.stack_outputs = stack_outputs
        self.infra_output_names = infra_output_names
        self.fakes = fakes

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[Optional[str], dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        for fake in self.fakes:
            result = fake(args)
            if result is not None:
                return result
        state = dict(args.inputs)
        for prop in COMPUTED.get(args.typ, []):
            state[prop] = computed_value(args.typ, args.name, prop)
        if args.typ == "kubernetes:core/v1:Secret" and args.inputs.get("type") == SA_TOKEN_SECRET:
            # Kubernetes' token controller fills the token in (base64, as every Secret's data)
            token = base64.b64encode(placeholder(args.name, "data.token").encode()).decode()
            state["data"] = {rpc._special_sig_key: rpc._special_secret_sig, "value": {"token": token}}
        rid = args.resource_id or (placeholder(args.name, "id") if args.custom else None)
        return rid, state

    def _stack_reference(self, args: pmocks.MockResourceArgs) -> tuple[Optional[str], dict[str, Any]]:
        stack = str(args.resource_id or args.inputs.get("name") or args.name)
        if self.stack_outputs is not None and stack in self.stack_outputs:
            outputs = self.stack_outputs[stack]
            secret_names = [k for k in outputs if k in ("kubeconfig",)]
        else:
            outputs = {}
            secret_names = []
            for name, kind in sorted(self.infra_output_names.get(stack, {}).items()):
                value = placeholder(f"stack:{stack}", name)
                outputs[name] = [value] if kind == "list" else value
                if kind == "secret":
                    secret_names.append(name)
        return stack, {"name": stack, "outputs": outputs, "secretOutputNames": secret_names}

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], Optional[list[tuple[str, str]]]]:
        if args.token == READ_STACK_OUTPUTS:
            # a stack's outputs as a StackReference reads them (stacks/migration.py reads its own):
            # those given to synth, none otherwise (as before a stack's first deployment)
            name = str(args.args.get("name"))
            outputs = (self.stack_outputs or {}).get(name, {})
            return {"name": name, "outputs": outputs, "secretOutputNames": []}, []
        if args.token == HELM_TEMPLATE:
            opts = json.loads(str(args.args.get("jsonOpts")))
            meta = {"name": opts.get("release_name"), "namespace": opts.get("namespace")}
            return {"result": [{**CHART_STAND_IN, "metadata": meta}]}, []
        raise NotImplementedError(f"synth has no offline answer for the provider function {args.token}")


def _alias(alias: Any) -> str:
    """An alias as synth records it: the URN, the former name, `type:<former type>`, or both."""
    if not alias.HasField("spec"):
        return str(alias.urn)
    name, typ = alias.spec.name, alias.spec.type
    return f"{name} (type:{typ})" if name and typ else str(name or f"type:{typ}")


def _provider_urn(ref: str) -> str:
    """A provider reference is `<provider urn>::<provider id>`; keep the urn."""
    return ref.rsplit("::", 1)[0] if ref else ""


class RecordingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks: SynthMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.stack_outputs: Optional[dict[str, Any]] = None
        self._lock = threading.Lock()
        # a chart's stand-in object (SynthMocks.call) -> the chart's URN
        self._stand_ins: dict[str, str] = {}

    def _record(self, request: Any, urn: str, state: dict[str, Any], read: bool) -> None:
        inputs = rpc.deserialize_properties(request.properties if read else request.object)
        aliases = [] if read else [_alias(a) for a in request.aliases]
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True if read else bool(request.custom),
            remote=False if read else bool(request.remote),
            provider=_provider_urn(request.provider),
            providers={} if read else {k: _provider_urn(v) for k, v in request.providers.items()},
            dependencies=[] if read else sorted({self._stand_ins.get(d, d) for d in request.dependencies}),
            inputs=inputs,
            state=state,
            protect=False if read else bool(request.protect),
            additional_secret_outputs=[] if read else sorted(request.additionalSecretOutputs),
            read=read,
            aliases=sorted(aliases),
            delete_before_replace=False if read else bool(request.deleteBeforeReplace),
            replace_on_changes=[] if read else sorted(request.replaceOnChanges),
            retain_on_delete=False if read else bool(request.retainOnDelete),
            transforms=0 if read else len(request.transforms),
        )
        with self._lock:
            if any(r.urn == urn for r in self.registrations):
                # the real engine refuses it too ("Duplicate resource URN"), mid-deployment
                raise RuntimeError(f"duplicate resource URN {urn}: two inputs made the same resource name")
            self.registrations.append(reg)

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the real engine gives: the parent's whole qualified type, and nothing for the
        stack (the SDK's mock keeps only the parent's last type and prefixes the stack's; make e2e
        found the difference)."""
        parent_type = parent.split("::")[2] if parent else ""
        if parent_type and parent_type != "pulumi:pulumi:Stack":
            type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{pmocks.get_stack()}::{pmocks.get_project()}::{type_}::{name}"

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == CHART_STAND_IN_TYPE:
            with self._lock:
                self._stand_ins[response.urn] = request.parent
        elif request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, self.resources[response.urn].state, read=False)
        return response

    def ReadResource(self, request):  # noqa: N802 - gRPC method name
        response = super().ReadResource(request)
        self._record(request, response.urn, self.resources[response.urn].state, read=True)
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class SynthResult:
    stack: str
    config_file: Path
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]


# ------------------------------------------------------------------------------ stack file


def _mark_secrets(value: Any) -> tuple[Any, bool]:
    """Replace `{secure: ...}` leaves (encrypted in the stack file) by a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_CONFIG_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], f = _mark_secrets(v)
            found = found or f
        return out, found
    if isinstance(value, list):
        items = [_mark_secrets(v) for v in value]
        return [v for v, _ in items], any(f for _, f in items)
    return value, False


# top-level keys of a Pulumi stack file (anything else is a typo such as `confg:`)
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


def read_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Pulumi config of a stack file as the engine hands it to the program: key -> string.

    The file is read defensively (stacks/config/yamlsafe.py); a problem raises `ConfigError` with one line
    `<file>:<line>: <problem>`."""
    from stacks.config.problems import ConfigError
    from stacks.config.yamlsafe import YamlError, read_yaml

    try:
        doc = read_yaml(path)
    except YamlError as exc:
        raise ConfigError([exc.where(str(path))]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the stack file: {exc.strerror or exc}"]) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        what = "a list" if isinstance(doc, list) else f"a {type(doc).__name__} value"
        raise ConfigError([f"{path}:1: a stack file is a mapping with a 'config:' key, not {what}"])
    unknown = [k for k in doc if k not in STACK_FILE_KEYS]
    if unknown:
        raise ConfigError(
            [
                f"{path}: unknown top-level key {k[:60]!r} (a stack file has {', '.join(STACK_FILE_KEYS)})"
                for k in unknown
            ]
        )
    config = doc.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        what = "a list" if isinstance(config, list) else f"the {type(config).__name__} value {str(config)[:40]!r}"
        raise ConfigError([f"{path}: 'config' must be a mapping of configuration keys, not {what}"])
    out: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, raw in config.items():
        key = str(key)
        if ":" not in key:
            key = f"{PROJECT}:{key}"
        value, secret = _mark_secrets(raw)
        if secret:
            secret_keys.append(key)
        if isinstance(value, (dict, list)):
            # NaN/Infinity are written as JSON's NaN/Infinity extension so that the config model
            # refuses them with their key path (stacks/config/__init__.py)
            out[key] = json.dumps(value, allow_nan=True)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = "" if value is None else str(value)
    return out, secret_keys


def infra_output_names(config: dict[str, str]) -> dict[str, dict[str, str]]:
    """stack name -> {output name: 'list'|'secret'|'str'} that the program will ask for."""
    result: dict[str, dict[str, str]] = {}
    try:
        clusters = json.loads(config.get(f"{PROJECT}:clusters", "[]"))
    except json.JSONDecodeError:
        return result
    for c in clusters if isinstance(clusters, list) else []:
        infra = c.get("infraStack") if isinstance(c, dict) else None
        if not isinstance(infra, dict) or not isinstance(infra.get("name"), str):
            continue
        names = result.setdefault(infra["name"], {})
        for key, out in (infra.get("outputs") or {}).items():
            if isinstance(out, str):
                names[out] = {"subnetIds": "list", "kubeconfig": "secret"}.get(key, "str")
    return result


# ------------------------------------------------------------------------------- the run

_RUN_LOCK = threading.Lock()


def _forget_previous_run() -> None:
    """A failed run leaves its exception and pending outputs in the SDK's globals; drop them."""
    SETTINGS.rpc_manager.clear()
    with SETTINGS.lock:
        SETTINGS.outputs.clear()


def _run_main(path: str) -> None:
    runpy.run_path(path, run_name="__main__")


def _run_on_mocks(
    result: SynthResult,
    mocks: SynthMocks,
    config: dict[str, str],
    secret_keys: list[str],
    program: Callable[[], Any],
) -> SynthResult:
    """Run `program` as the stack `result.stack` on a fresh recording monitor; fills `result`."""
    from stacks.config.problems import ConfigError

    monitor = RecordingMonitor(mocks)
    with _RUN_LOCK:
        ROOT.set(None)
        pmocks.set_mocks(
            mocks, project=PROJECT, stack=result.stack, preview=False, monitor=monitor, organization="organization"
        )
        ROOT.set(None)  # set_mocks made and closed a root of its own; the program runs in a fresh one
        _forget_previous_run()
        monitor.stack_outputs = None
        set_all_config(config, secret_keys)
        try:
            _sync_await(run_in_stack(program))
        except ConfigError as exc:
            result.errors = list(exc.problems)
        finally:
            ROOT.set(None)
            _forget_previous_run()
    result.registrations = sorted(monitor.registrations, key=lambda r: r.urn)
    result.outputs = monitor.stack_outputs or {}
    return result


def run_program(
    stack: str = "staging",
    config_file: Optional[Path | str] = None,
    stack_outputs: Optional[dict[str, dict[str, Any]]] = None,
    fakes: Optional[list[Fake]] = None,
    project_dir: Path = PROJECT_DIR,
) -> SynthResult:
    """Run `__main__.py` of `project_dir` for `stack` on the mock engine; never raises for config errors."""
    from stacks.config.problems import ConfigError

    path = Path(config_file) if config_file else project_dir / f"Pulumi.{stack}.yaml"
    result = SynthResult(stack=stack, config_file=path)
    try:
        config, secret_keys = read_stack_file(path)
    except ConfigError as exc:
        result.errors = list(exc.problems)
        return result
    mocks = SynthMocks(stack_outputs, infra_output_names(config), list(fakes or []))
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    main = str(project_dir / "__main__.py")
    return _run_on_mocks(result, mocks, config, secret_keys, lambda: _run_main(main))


def run_component(
    build: Callable[[], Any],
    stack: str = "component",
    fakes: Optional[list[Fake]] = None,
    config: Optional[dict[str, str]] = None,
    mocks: Optional[SynthMocks] = None,
) -> SynthResult:
    """Run `build` alone on the mock engine, as the whole program of stack `stack`, and record what it
    registers: one component (and the providers it needs) without the rest of the mesh, e.g.

        run_component(lambda: PrivateGateway("gw", PrivateGatewayArgs(..., aws_provider=aws.Provider("aws"))))

    Cases that no stack file reaches (an import with only a local endpoint, a gateway in routed mode)
    are tested this way. Exceptions raised by `build` (a component refusing its args) propagate.
    `mocks`: other answers of the mock engine (a chart's rendered objects: tests/test_day_two.py)."""
    result = SynthResult(stack=stack, config_file=Path("<component>"))
    mocks = mocks if mocks is not None else SynthMocks(None, {}, list(fakes or []))
    return _run_on_mocks(result, mocks, dict(config or {}), [], build)


# ----------------------------------------------------------------------------- redaction


def redact(value: Any) -> Any:
    """JSON-ready copy: secrets -> "[secret]", integral floats -> int, unknowns named."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {str(k): redact(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == rpc.UNKNOWN:
        return "[unknown until apply]"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    urn = getattr(value, "_synth_urn", None)
    return urn or f"[{type(value).__name__}]"


def unwrap(value: Any) -> Any:
    """Like redact but keeps secret values (for tests that must read them, e.g. key material)."""
    if rpc.is_rpc_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {str(k): unwrap(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
