# ruff: noqa: N802 - the gRPC servicer's method names are the RPCs'
"""`pulumi-resource-aws` for the e2e: a Pulumi resource provider (gRPC) that serves the pulumi-aws types of
tools/aws/resources.py through boto3 against a moto server, never a real AWS.

    MESHBRIDGE_AWS_ENDPOINT=http://127.0.0.1:5000 python tools/aws/provider.py [ENGINE_ADDRESS]

Prints its port alone on the first line of stdout (how the engine finds a plugin). Refuses to start
without MESHBRIDGE_AWS_ENDPOINT. Base credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
(moto: account 123456789012); the provider config's `assumeRoles` are assumed in order (STS on moto),
`allowedAccountIds` is checked against sts GetCallerIdentity, `defaultTags` are applied to taggable
resources (`tagsAll`). A preview (Create/Update with preview) calls no AWS API.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
import urllib.parse
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

import boto3
import grpc
from botocore.exceptions import BotoCoreError, ClientError
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resources import SPECS, Ctx, Props, ProviderError, Spec, all_tags, write_tags

VERSION = "7.51.1"  # the pulumi-aws pin of requirements.txt
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
ENDPOINT_ENV = "MESHBRIDGE_AWS_ENDPOINT"
# provider config served: anything else set fails CheckConfig; `version` is the engine's own
CONFIG_KEYS = {
    "region",
    "allowedAccountIds",
    "assumeRoles",
    "defaultTags",
    "skipCredentialsValidation",
    "skipMetadataApiCheck",
    "skipRegionValidation",
    "skipRequestingAccountId",
    "version",
}
Kind = provider_pb2.PropertyDiff.Kind
REPLACING = {Kind.ADD: Kind.ADD_REPLACE, Kind.DELETE: Kind.DELETE_REPLACE, Kind.UPDATE: Kind.UPDATE_REPLACE}


def to_dict(s: struct_pb2.Struct) -> Props:
    return {k: whole(v) for k, v in json_format.MessageToDict(s).items()}


def whole(v: Any) -> Any:
    """Struct numbers are doubles: integral ones back to int (ports, counts)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [whole(x) for x in v]
    if isinstance(v, dict):
        return {k: whole(x) for k, x in v.items()}
    return v


def to_struct(d: Props) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({k: v for k, v in d.items() if v is not None})
    return s


def unwrap(props: Props) -> tuple[Props, set[str]]:
    """Secrets out of their envelopes; returns the top-level properties that held one."""
    secret: set[str] = set()

    def plain(v: Any, top: str) -> Any:
        if isinstance(v, dict):
            if v.get(SIG_KEY) == SECRET_SIG:
                secret.add(top)
                return plain(v.get("value"), top)
            if SIG_KEY in v:
                raise ProviderError(f"property {top!r}: unsupported special value {v[SIG_KEY]!r}")
            return {k: plain(x, top) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x, top) for x in v]
        return v

    return {k: plain(v, k) for k, v in props.items()}, secret


def wrap(props: Props, secret: set[str]) -> Props:
    return {k: {SIG_KEY: SECRET_SIG, "value": v} if k in secret and v is not None else v for k, v in props.items()}


def has_unknown(v: Any) -> bool:
    if isinstance(v, dict):
        return any(has_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(has_unknown(x) for x in v)
    return v == UNKNOWN


def spec_of(token: str) -> Spec:
    if token not in SPECS:
        raise ProviderError(f"resource type {token!r} is not served by this test provider (tools/aws/resources.py)")
    return SPECS[token]


def token_of(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def name_of(urn: str) -> str:
    return urn.split("::")[3]


def normalized(v: Any) -> Any:
    """Lists compare as sets where pulumi-aws has sets (order is not a change)."""
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return sorted(v)
    return v


def changed_keys(spec: Spec, olds: Props, news: Props, ignore: list[str]) -> list[str]:
    keys = (set(olds) | set(news)) & (spec.inputs | {"tags"})
    return sorted(k for k in keys if k not in ignore and normalized(olds.get(k)) != normalized(news.get(k)))


T = TypeVar("T")


def rpc(fn: Callable[..., T]) -> Callable[..., T]:
    """Errors become the RPC's failure with a message naming the resource."""

    @functools.wraps(fn)
    def run(self: Provider, request: Any, context: grpc.ServicerContext) -> T:
        try:
            return fn(self, request, context)
        except (ProviderError, ClientError, BotoCoreError, KeyError) as err:
            where = getattr(request, "urn", "") or getattr(request, "type", "") or fn.__name__
            what = f"missing property {err}" if isinstance(err, KeyError) else str(err)
            context.abort(grpc.StatusCode.UNKNOWN, f"aws (meshbridge test provider) {fn.__name__} {where}: {what}")
            raise  # abort raises; this line is for the type checker

    return run


class Provider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx: Ctx | None = None
        self.unknown_config = False

    # --- plugin and configuration ------------------------------------------------------------
    @rpc
    def Handshake(self, request: Any, context: grpc.ServicerContext) -> Any:
        return provider_pb2.ProviderHandshakeResponse(accept_secrets=True, accept_resources=True, accept_outputs=False)

    @rpc
    def GetPluginInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    @rpc
    def GetSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        # minimal package schema: the program uses the generated pulumi_aws SDK, not this schema
        return provider_pb2.GetSchemaResponse(schema=json.dumps({"name": "aws", "version": VERSION}))

    @rpc
    def GetMapping(self, request: Any, context: grpc.ServicerContext) -> Any:
        return provider_pb2.GetMappingResponse(provider="", data=b"")  # no terraform mapping: conversion only

    @rpc
    def GetMappings(self, request: Any, context: grpc.ServicerContext) -> Any:
        return provider_pb2.GetMappingsResponse(providers=[])

    @rpc
    def Attach(self, request: Any, context: grpc.ServicerContext) -> Any:
        return empty_pb2.Empty()

    @rpc
    def Cancel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return empty_pb2.Empty()

    @rpc
    def CheckConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        news = to_dict(request.news)
        failures = [
            provider_pb2.CheckFailure(property=k, reason=f"provider config {k!r} is not served by this test provider")
            for k in sorted(set(news) - CONFIG_KEYS)
            if news[k] is not None
        ]
        return provider_pb2.CheckResponse(inputs=request.news, failures=failures)

    @rpc
    def DiffConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        olds, news = to_dict(request.old_inputs or request.olds), to_dict(request.news)
        diffs = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k))
        # no config change replaces the provider (and with it every resource): in-place only
        changes = provider_pb2.DiffResponse.DIFF_SOME if diffs else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=changes, diffs=diffs)

    @rpc
    def Configure(self, request: Any, context: grpc.ServicerContext) -> Any:
        config = self.config(request)
        if any(has_unknown(v) for v in config.values()):
            self.unknown_config = True  # preview with a config not known yet: only previews work
        else:
            self.ctx = self.connect(config)
        return provider_pb2.ConfigureResponse(
            acceptSecrets=True, acceptResources=True, supportsPreview=True, acceptOutputs=False
        )

    def config(self, request: Any) -> Props:
        """The config from `args` (newer engines) or `variables` (aws:config:KEY strings)."""
        raw = to_dict(request.args) if request.HasField("args") else {}
        if not raw:
            raw = {k.split(":")[-1]: v for k, v in request.variables.items()}
        raw, _ = unwrap(raw)
        config = {}
        for k, v in raw.items():
            # the SDK sends non-string values as JSON strings; region and version are plain strings
            if isinstance(v, str) and k not in ("region", "version") and v != UNKNOWN:
                v = json.loads(v)
            config[k] = v
        unknown = set(config) - CONFIG_KEYS
        if unknown:
            raise ProviderError(f"provider config {sorted(unknown)} not served by this test provider")
        return config

    def connect(self, config: Props) -> Ctx:
        region = config.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise ProviderError("provider config 'region' is required (or AWS_REGION)")
        session = boto3.Session(region_name=region)
        for role in config.get("assumeRoles") or []:
            extra = set(role) - {"roleArn", "sessionName"}
            if extra:
                raise ProviderError(f"provider config 'assumeRoles': {sorted(extra)} not served by this test provider")
            sts = session.client("sts", endpoint_url=self.endpoint)
            creds = sts.assume_role(
                RoleArn=role["roleArn"], RoleSessionName=role.get("sessionName") or "meshbridge-e2e"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
        me = session.client("sts", endpoint_url=self.endpoint).get_caller_identity()
        allowed = config.get("allowedAccountIds")
        if allowed is not None and me["Account"] not in allowed:
            raise ProviderError(f"AWS account ID not allowed: {me['Account']} (allowedAccountIds: {allowed})")
        tags = (config.get("defaultTags") or {}).get("tags") or {}
        return Ctx(session, self.endpoint, region, me["Account"], me["Arn"], default_tags=dict(tags))

    def configured(self) -> Ctx:
        if self.ctx is None:
            why = "its config was unknown (preview)" if self.unknown_config else "Configure was not called"
            raise ProviderError(f"the provider is not configured: {why}")
        return self.ctx

    # --- resources -----------------------------------------------------------------------------
    @rpc
    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        olds, news = to_dict(request.olds), to_dict(request.news)
        failures = [
            provider_pb2.CheckFailure(property=k, reason=f"{spec.token}: {k!r} is not served by this test provider")
            for k in sorted(set(news) - spec.inputs)
        ]
        inputs = {**spec.defaults, **news}
        if spec.autoname and "name" not in news and "namePrefix" not in news:
            if "name" in olds:  # keep the name chosen at create (as pulumi-aws does)
                inputs["name"] = olds["name"]
            else:
                seed = request.randomSeed or secrets.token_bytes(8)
                inputs["name"] = f"{name_of(request.urn)}-{seed.hex()[:7]}"
                if len(inputs["name"]) > spec.autoname:
                    failures.append(
                        provider_pb2.CheckFailure(
                            property="name",
                            reason=f"{spec.token}: the generated name {inputs['name']!r} is longer than "
                            f"{spec.autoname} characters: set `name` or shorten the resource name",
                        )
                    )
        return provider_pb2.CheckResponse(inputs=to_struct(inputs), failures=failures)

    @rpc
    def Diff(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        olds, _ = unwrap(to_dict(request.old_inputs) if request.HasField("old_inputs") else to_dict(request.olds))
        news, _ = unwrap(to_dict(request.news))
        diffs = changed_keys(spec, olds, news, list(request.ignoreChanges))
        replaces = sorted(
            {k for k in diffs if k in spec.force_new} | set(spec.replace_if(olds, news) if spec.replace_if else [])
        )
        detail = {}
        for k in diffs:
            kind = Kind.ADD if k not in olds else Kind.DELETE if k not in news else Kind.UPDATE
            detail[k] = provider_pb2.PropertyDiff(kind=REPLACING[kind] if k in replaces else kind, inputDiff=True)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if diffs else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=diffs,
            replaces=replaces,
            detailedDiff=detail,
            hasDetailedDiff=True,
            deleteBeforeReplace=False,
        )

    def state(self, ctx: Ctx, spec: Spec, rid: str, inputs: Props) -> Props:
        out = spec.read(ctx, rid, inputs)
        if out is None:
            raise ProviderError(f"{spec.token} {rid}: not found right after it was written")
        tags = {"tags": inputs.get("tags"), "tagsAll": all_tags(ctx, inputs)} if spec.tags else {}
        return {**inputs, **out, **tags, "id": rid}

    @rpc
    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        inputs, secret = unwrap(to_dict(request.properties))
        if request.preview:
            return provider_pb2.CreateResponse(
                id="", properties=to_struct(wrap({**dict.fromkeys(spec.computed, UNKNOWN), **inputs}, secret))
            )
        unknown = sorted(k for k, v in inputs.items() if has_unknown(v))
        if unknown:
            raise ProviderError(f"{spec.token}: inputs {unknown} are unknown outside a preview")
        ctx = self.configured()
        rid = spec.create(ctx, inputs)
        props = self.state(ctx, spec, rid, inputs)
        return provider_pb2.CreateResponse(id=rid, properties=to_struct(wrap(props, secret)))

    @rpc
    def Read(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        state, secret = unwrap(to_dict(request.properties))
        inputs = to_dict(request.inputs)
        out = spec.read(self.configured(), request.id, {**state, **unwrap(inputs)[0]})
        if out is None:
            return provider_pb2.ReadResponse(id="")  # gone: the engine drops it from the state
        return provider_pb2.ReadResponse(
            id=request.id, properties=to_struct(wrap({**state, **out}, secret)), inputs=request.inputs
        )

    @rpc
    def Update(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        olds, _ = unwrap(to_dict(request.olds))
        old_in, _ = unwrap(to_dict(request.old_inputs)) if request.HasField("old_inputs") else (olds, set())
        news, secret = unwrap(to_dict(request.news))
        diffs = changed_keys(spec, old_in, news, list(request.ignoreChanges))
        if request.preview:
            kept = {k: olds[k] for k in spec.computed if k in olds}
            return provider_pb2.UpdateResponse(properties=to_struct(wrap({**olds, **kept, **news}, secret)))
        ctx = self.configured()
        steps: list[Callable[[Ctx, str, Props, Props], None]] = []
        for k in diffs:
            if k == "tags" and spec.tags:
                continue
            if k not in spec.updatable:
                raise ProviderError(f"{spec.token}: changing {k!r} in place is not served by this test provider")
            if spec.updatable[k] not in steps:
                steps.append(spec.updatable[k])
        for step in steps:
            step(ctx, request.id, old_in, news)
        if spec.tags:
            old_all, new_all = olds.get("tagsAll") or {}, all_tags(ctx, news)
            if old_all != new_all:
                write_tags(ctx, spec, request.id, olds.get("arn") or request.id, old_all, new_all)
        props = self.state(ctx, spec, request.id, news)
        return provider_pb2.UpdateResponse(properties=to_struct(wrap(props, secret)))

    @rpc
    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = spec_of(token_of(request.urn))
        state, _ = unwrap(to_dict(request.properties))
        spec.delete(self.configured(), request.id, state)
        return empty_pb2.Empty()

    @rpc
    def Invoke(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise ProviderError(f"function {request.tok!r} is not served by this test provider (it serves no function)")

    @rpc
    def Call(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise ProviderError(f"method {request.tok!r} is not served by this test provider")

    @rpc
    def Construct(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise ProviderError(f"component {request.type!r} is not served by this test provider")


def serve(endpoint: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(Provider(endpoint), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def main() -> int:
    endpoint = os.environ.get(ENDPOINT_ENV, "").rstrip("/")
    if not endpoint:
        print(
            f"pulumi-resource-aws (meshbridge test provider): {ENDPOINT_ENV} is not set; refusing to start "
            "(this provider only talks to a local AWS emulator)",
            file=sys.stderr,
        )
        return 1
    host = urllib.parse.urlsplit(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"pulumi-resource-aws (meshbridge test provider): {ENDPOINT_ENV}={endpoint} is not loopback; "
            "refusing to start",
            file=sys.stderr,
        )
        return 1
    serve(endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
