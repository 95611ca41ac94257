"""Issue 13: every input validated, fail closed. One regression test per kind of mistake.

Each case is what a user sees: synth stops with exit code 2 (here: `result.errors`), one line per
problem starting with the key path (or `<file>:<line>:` for the stack file itself), no traceback,
and nothing registered.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config.load import parse_config
from stacks.config.model import MAX_TLS_HOURS
from stacks.config.problems import LINE_LIMIT
from stacks.config.strict import owned_objects
from synth.engine import SynthResult, run_program
from synth.render import k8s_objects
from tests.conftest import PROJECT, Mutation, require_shared, run_variant, stack_config
from tests.conftest import all_of as _both
from tests.conftest import set_at as _set

C, S, D, M, CA = (
    "meshbridge:clusters",
    "meshbridge:services",
    "meshbridge:distribute",
    "meshbridge:mesh",
    "meshbridge:ca",
)


def _refused(result: SynthResult, prefix: str) -> None:
    """The user-visible contract of a refused configuration."""
    assert result.errors, "the mistake was accepted"
    assert any(line.startswith(prefix) for line in result.errors), result.errors
    for line in result.errors:
        assert "\n" not in line and len(line) <= LINE_LIMIT, line
    assert result.registrations == [], "resources were registered before the configuration was refused"


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_bytes(data)
    return path


STAGING_TEXT = (PROJECT / "Pulumi.staging.yaml").read_text()


# ----------------------------------------------------------------------------- the stack file

LAUGHS = "config:\n  meshbridge:mesh:\n    id: m\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
STACK_FILES: list[tuple[str, bytes, str]] = [
    ("syntax-error", STAGING_TEXT.replace("id: mesh-staging", "id: [mesh-staging").encode(), "YAML syntax error"),
    ("tab-indentation", STAGING_TEXT.replace("    id: mesh-staging", "\tid: mesh-staging").encode(), "tab character"),
    ("utf-16", STAGING_TEXT.encode("utf-16"), "UTF-16"),
    ("utf-16-without-bom", STAGING_TEXT.encode("utf-16-le"), "NUL bytes"),
    ("invalid-utf-8", STAGING_TEXT.replace("Istio", "Ist\udcffio").encode("utf-8", "surrogateescape"), "UTF-8"),
    ("top-level-list", b"- config: {}\n", "a stack file is a mapping"),
    ("scalar-config", b"config: meshbridge\n", "'config' must be a mapping"),
    ("duplicate-key", (STAGING_TEXT + "  meshbridge:mesh: {id: other}\n").encode(), "duplicate key 'meshbridge:mesh'"),
    ("billion-laughs", LAUGHS.encode(), "anchors and aliases count"),
    ("deep-nesting", b"config:\n  meshbridge:mesh: " + b"[" * 1000 + b"]" * 1000 + b"\n", "nested more than"),
    ("two-documents", (STAGING_TEXT + "---\nconfig: {}\n").encode(), "more than one YAML document"),
    ("python-tag", b"config:\n  meshbridge:mesh: !!python/object/apply:os.system [ls]\n", "is not supported"),
    ("ambiguous-number", b"config:\n  meshbridge:mesh: {id: m, x: 0755}\n", "ambiguous number"),
    ("typo-top-level", STAGING_TEXT.replace("config:", "confg:", 1).encode(), "unknown top-level key 'confg'"),
]


@pytest.mark.parametrize(("data", "message"), [(d, m) for _, d, m in STACK_FILES], ids=[i for i, _, _ in STACK_FILES])
def test_stack_file_mistakes_are_one_line_naming_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = _write(tmp_path, data)
    result = run_program("staging", path)
    _refused(result, str(path))
    assert any(message in line for line in result.errors), result.errors


def test_stack_file_errors_name_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, (STAGING_TEXT + "  meshbridge:mesh: {id: other}\n").encode())
    line = len(STAGING_TEXT.splitlines()) + 1
    first = STAGING_TEXT.splitlines().index("  meshbridge:mesh:") + 1
    assert run_program("staging", path).errors == [
        f"{path}:{line}: duplicate key 'meshbridge:mesh' (first given on line {first}; key path meshbridge:mesh)"
    ]


@pytest.mark.parametrize("case", ["tab-indentation", "billion-laughs", "utf-16"])
def test_cli_exits_2_without_traceback_for_a_broken_stack_file(tmp_path: Path, case: str) -> None:
    data = next(d for i, d, _ in STACK_FILES if i == case)
    path = _write(tmp_path, data)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "synth", "--config-file", str(path), "--out", str(out)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{path}:" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()


def test_distribute_file_is_read_as_defensively(tmp_path: Path) -> None:
    (tmp_path / "objs.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n")
    raw = _raw("staging")
    raw["distribute"] = [{"name": "x", "clusterSelector": {"mesh": "enabled"}, "file": "objs.yaml"}]
    with pytest.raises(Exception) as exc:
        parse_config(raw, tmp_path)
    assert exc.value.problems == [  # type: ignore[attr-defined]
        "meshbridge:distribute[0].file: objs.yaml:4: tab character used for indentation; YAML allows only spaces"
    ]


# ------------------------------------------------------------- strict types, nothing by accident

ARABIC_DIGITS = "١١١١١١١١١١١١"
BAD: list[tuple[str, Mutation, str]] = [
    # strings that passed a pattern by accident
    (
        "principal-trailing-newline",
        _set([S, 0, "consumers", 0, "principals"], ["default/frontend\n"]),
        "meshbridge:services[0].consumers[0].principals: principal 'default/frontend\\n'",
    ),
    ("account-unicode-digits", _set([C, 0, "accountId"], ARABIC_DIGITS), "meshbridge:clusters[0].accountId:"),
    ("region-trailing-newline", _set([C, 0, "region"], "us-east-1\n"), "meshbridge:clusters[0].region:"),
    ("zone-trailing-newline", _set([C, 0, "zone"], "us-east-1a\n"), "meshbridge:clusters[0].zone:"),
    ("name-trailing-newline", _set([C, 0, "name"], "cluster-a\n"), "meshbridge:clusters[0].name:"),
    (
        "alias-prefix-newline",
        _set([S, 1, "perPod", "aliasPrefix"], "src-\n"),
        "meshbridge:services[1].perPod.aliasPrefix:",
    ),
    ("organization-control-char", _set([CA, "organization"], "Ist\x00io"), "meshbridge:ca.organization:"),
    # strict types: no bool-as-int, float-as-int, string-as-int
    ("port-true", _set([S, 0, "ports", 0, "port"], True), "meshbridge:services[0].ports[0].port:"),
    ("port-float", _set([S, 0, "ports", 0, "port"], 8080.0), "meshbridge:services[0].ports[0].port:"),
    ("port-string", _set([S, 0, "ports", 0, "port"], "8080"), "meshbridge:services[0].ports[0].port:"),
    ("rsa-bits-float", _set([CA, "rsaBits"], 2048.0), "meshbridge:ca.rsaBits:"),
    ("validity-bool", _set([CA, "rootValidityHours"], True), "meshbridge:ca.rootValidityHours:"),
    ("protect-root-string", _set([CA, "protectRoot"], "yes"), "meshbridge:ca.protectRoot:"),
    ("replicas-float", _set([S, 1, "perPod", "replicas"], 3.0), "meshbridge:services[1].perPod.replicas:"),
    # values that reach AWS or Istio
    ("cidr-anywhere", _set([C, 0, "vpc", "cidr"], "0.0.0.0/0"), "meshbridge:clusters[0].vpc.cidr: '0.0.0.0/0'"),
    ("cidr-without-prefix", _set([C, 0, "vpc", "cidr"], "10.10.0.0"), "meshbridge:clusters[0].vpc.cidr:"),
    ("cidr-too-broad", _set([C, 0, "vpc", "cidr"], "10.0.0.0/8"), "meshbridge:clusters[0].vpc.cidr:"),
    ("cidr-netmask-form", _set([C, 0, "vpc", "cidr"], "10.10.0.0/255.255.0.0"), "meshbridge:clusters[0].vpc.cidr:"),
    (
        "cidr-anywhere-routed",
        _both(_set([M, "connectivity"], "routed"), _set([C, 0, "vpc", "cidr"], "0.0.0.0/0")),
        "meshbridge:clusters[0].vpc.cidr:",
    ),
    (
        "validity-beyond-tls-provider",
        _set([CA, "rootValidityHours"], MAX_TLS_HOURS + 1),
        "meshbridge:ca.rootValidityHours:",
    ),
    ("repository-without-host", _set([M, "istio", "repository"], "https:///"), "meshbridge:mesh.istio.repository:"),
    (
        "repository-http",
        _set([M, "istio", "repository"], "http://charts.example.com"),
        "meshbridge:mesh.istio.repository:",
    ),
    (
        "repository-credentials",
        _set([M, "istio", "repository"], "https://user:pw@charts.example.com/x"),
        "meshbridge:mesh.istio.repository:",
    ),
    (
        "traffic-policy-unknown-field",
        _set([S, 0, "trafficPolicy"], {"loadBalancer": {"simple": "LEAST_REQUEST"}, "retries": 3}),
        "meshbridge:services[0].trafficPolicy.retries: unknown field",
    ),
    (
        "traffic-policy-fastest",
        _set([S, 0, "trafficPolicy", "loadBalancer", "simple"], "FASTEST"),
        "meshbridge:services[0].trafficPolicy.loadBalancer.simple: 'FASTEST' is not one of",
    ),
    (
        "traffic-policy-negative-duration",
        _set([S, 0, "trafficPolicy"], {"outlierDetection": {"interval": "-10s"}}),
        "meshbridge:services[0].trafficPolicy.outlierDetection.interval:",
    ),
    (
        "traffic-policy-unitless-duration",
        _set([S, 0, "trafficPolicy"], {"connectionPool": {"tcp": {"connectTimeout": "30"}}}),
        "meshbridge:services[0].trafficPolicy.connectionPool.tcp.connectTimeout:",
    ),
    (
        "traffic-policy-nan",
        _set([S, 0, "trafficPolicy"], {"loadBalancer": {"warmup": {"duration": "10s", "aggression": float("nan")}}}),
        "meshbridge:services[0].trafficPolicy.loadBalancer.warmup.aggression:",
    ),
    (
        "traffic-policy-negative-limit",
        _set([S, 0, "trafficPolicy"], {"connectionPool": {"tcp": {"maxConnections": -1}}}),
        "meshbridge:services[0].trafficPolicy.connectionPool.tcp.maxConnections:",
    ),
    (
        "traffic-policy-port-not-of-service",
        _set(
            [S, 0, "trafficPolicy", "portLevelSettings"],
            [{"port": {"number": 9999}, "connectionPool": {"tcp": {"maxConnections": 5}}}],
        ),
        "meshbridge:services[0].trafficPolicy.portLevelSettings[0].port.number: 9999 is not a port of the service",
    ),
    (
        "traffic-policy-port-without-number",
        _set([S, 0, "trafficPolicy", "portLevelSettings"], [{"connectionPool": {"tcp": {"maxConnections": 5}}}]),
        "meshbridge:services[0].trafficPolicy.portLevelSettings[0].port.number: required",
    ),
    (
        "traffic-policy-string-for-object",
        _set([S, 0, "trafficPolicy", "connectionPool"], "large"),
        "meshbridge:services[0].trafficPolicy.connectionPool: must be a mapping",
    ),
    (
        "traffic-policy-port-level-tls",
        _set(
            [S, 0, "trafficPolicy", "portLevelSettings"],
            [{"port": {"number": 8080}, "tls": {"mode": "DISABLE"}}],
        ),
        "meshbridge:services[0].trafficPolicy.portLevelSettings[0].tls: set by meshbridge",
    ),
    (
        "traffic-policy-tunnel",
        _set(
            [S, 0, "trafficPolicy", "tunnel"], {"protocol": "CONNECT", "targetHost": "proxy.local", "targetPort": 8080}
        ),
        "meshbridge:services[0].trafficPolicy.tunnel: not supported",
    ),
    ("traffic-policy-empty", _set([S, 0, "trafficPolicy"], {}), "meshbridge:services[0].trafficPolicy: is empty"),
    # names and identities
    ("service-name-dns-1035", _set([S, 1, "name"], "9lives"), "meshbridge:services[1].name:"),
    (
        "per-pod-name-too-long",
        _both(_set([S, 1, "name"], "h" * 62), _set([S, 1, "perPod", "replicas"], 10)),
        "meshbridge:services[1].perPod.replicas: the per-pod Service",
    ),
    ("label-key", _set([C, 0, "labels"], {"-bad": "x"}), "meshbridge:clusters[0].labels:"),
    ("label-value-too-long", _set([C, 0, "labels", "mesh"], "x" * 64), "meshbridge:clusters[0].labels:"),
    ("selector-empty", _set([S, 2, "selector"], {}), "meshbridge:services[2].selector:"),
    ("selector-bad-label", _set([S, 2, "selector"], {"app": "db pxc"}), "meshbridge:services[2].selector:"),
    (
        "infra-stack-dot-dot",
        _set([C, 1, "infraStack", "name"], "acme/../staging"),
        "meshbridge:clusters[1].infraStack.name:",
    ),
    (
        "infra-stack-four-parts",
        _set([C, 1, "infraStack", "name"], "a/b/c/d"),
        "meshbridge:clusters[1].infraStack.name:",
    ),
    (
        "infra-stack-output-name",
        _set([C, 1, "infraStack", "outputs", "vpcId"], "vpc id"),
        "meshbridge:clusters[1].infraStack.outputs.vpcId:",
    ),
    ("alias-own-fqdn", _set([S, 0, "alias"], "backend-api.default.svc.cluster.local"), "meshbridge:services[0].alias:"),
    (
        "alias-per-pod-host",
        _set([S, 1, "alias"], "src-hello-0.demo.svc.cluster.local"),
        "meshbridge:services[1].alias:",
    ),
    ("methods-empty", _set([S, 0, "consumers", 0, "methods"], []), "meshbridge:services[0].consumers[0].methods:"),
    (
        "principal-twice",
        _set([S, 0, "consumers", 0, "principals"], ["a/b", "a/b"]),
        "meshbridge:services[0].consumers[0]",
    ),
    # ownership
    ("import-namespace-kube-system", _set([M, "importNamespace"], "kube-system"), "meshbridge:mesh.importNamespace:"),
    ("import-namespace-default", _set([M, "importNamespace"], "default"), "meshbridge:mesh.importNamespace:"),
    ("import-namespace-of-an-app", _set([M, "importNamespace"], "demo"), "meshbridge:mesh.importNamespace: 'demo'"),
    (
        "distribute-peer-authentication",
        _set(
            [D, 0, "manifests"],
            [
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "PeerAuthentication",
                    "metadata": {"name": "default", "namespace": "istio-system"},
                    "spec": {"mtls": {"mode": "DISABLE"}},
                }
            ],
        ),
        "meshbridge:distribute[0].manifests[0]: PeerAuthentication istio-system/default is the mesh-wide mTLS policy",
    ),
    (
        "distribute-cacerts",
        _set(
            [D, 0, "manifests"],
            [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cacerts", "namespace": "istio-system"}}],
        ),
        "meshbridge:distribute[0].manifests[0]: Secret istio-system/cacerts is the cacerts Secret",
    ),
    (
        "distribute-istiod-config",
        _set(
            [D, 0, "manifests"],
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"}}],
        ),
        "meshbridge:distribute[0].manifests[0]: may not replace the ConfigMap istio-system/istio",
    ),
    (
        "distribute-import",
        _set(
            [D, 0, "manifests"],
            [
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "DestinationRule",
                    "metadata": {"name": "backend-api.cluster-b.local", "namespace": "istio-system"},
                    "spec": {"host": "backend-api.cluster-b.local"},
                }
            ],
        ),
        "meshbridge:distribute[0].manifests[0]: DestinationRule istio-system/backend-api.cluster-b.local is the import",
    ),
    (
        "distribute-same-object-twice",
        lambda c: c[D][0]["manifests"].append(copy.deepcopy(c[D][0]["manifests"][0])),
        "meshbridge:distribute[0].manifests[1]: VirtualService istio-system/backend-api-timeouts is also distributed",
    ),
    (
        "distribute-same-object-in-two-entries",
        lambda c: c[D].append(
            {"name": "again", "clusterSelector": {"mesh": "enabled"}, "manifests": copy.deepcopy(c[D][0]["manifests"])}
        ),
        "meshbridge:distribute[2].manifests[0]: VirtualService istio-system/backend-api-timeouts is also distributed",
    ),
    (
        "distribute-file-key-collision",
        lambda c: c[D][0]["manifests"].extend(
            [
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "Gateway",
                    "metadata": {"name": "gw", "namespace": "demo"},
                },
                {
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "Gateway",
                    "metadata": {"name": "gw", "namespace": "demo"},
                },
            ]
        ),
        "meshbridge:distribute[0].manifests[2]: Gateway demo/gw and distribute[0].manifests[1] would both be written",
    ),
    (
        "distribute-weakens-mtls",
        _set(
            [D, 0, "manifests"],
            [
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "PeerAuthentication",
                    "metadata": {"name": "open", "namespace": "demo"},
                    "spec": {"mtls": {"mode": "PERMISSIVE"}},
                }
            ],
        ),
        "meshbridge:distribute[0].manifests[0].spec: a PeerAuthentication with mode DISABLE or PERMISSIVE",
    ),
    (
        "distribute-kind-not-a-string",
        _set([D, 0, "manifests"], [{"apiVersion": "v1", "kind": 5, "metadata": {"name": "x"}}]),
        "meshbridge:distribute[0].manifests[0].kind:",
    ),
    (
        "distribute-istio-object-bad-spec",
        _set([D, 0, "manifests", 0, "spec"], True),
        "meshbridge:distribute[0].manifests[0].spec: must be a mapping",
    ),
    (
        "distribute-istio-object-unknown-field",
        _set([D, 0, "manifests", 0, "spec", "http", 0, "timeOut"], "5s"),
        "meshbridge:distribute[0].manifests[0].spec.http[0].timeOut: unknown field",
    ),
    (
        "distribute-istio-kind-not-served",
        _set([D, 0, "manifests", 0, "apiVersion"], "networking.istio.io/v9"),
        "meshbridge:distribute[0].manifests[0].kind: networking.istio.io/v9 VirtualService is not served",
    ),
    # small ones
    (
        "key-with-newline",
        lambda c: c[C][0].update({"regi\non": "x"}),
        "meshbridge:clusters[0]['regi\\non']: unknown key",
    ),
]


@pytest.mark.parametrize(("mutation", "prefix"), [(m, p) for _, m, p in BAD], ids=[i for i, _, _ in BAD])
def test_mistake_is_refused_with_its_key_path(tmp_path: Path, mutation: Mutation, prefix: str) -> None:
    _refused(run_variant(tmp_path, mutation), prefix)


def test_ca_null_is_the_same_as_no_ca(tmp_path: Path) -> None:
    result = run_variant(tmp_path, _set([CA], None))
    assert result.ok, result.errors
    assert result.registrations


def test_huge_value_is_cut_in_the_error(tmp_path: Path) -> None:
    result = run_variant(tmp_path, _set([C, 0, "region"], "x" * 5_000_000))
    _refused(result, "meshbridge:clusters[0].region: 'xxxx")
    assert "(5000000 characters)" in result.errors[0]


def test_one_bad_reference_among_thousands_of_services_is_found(tmp_path: Path) -> None:
    raw = _raw("staging")
    template = raw["services"][1]
    raw["services"] = []
    for i in range(3000):
        svc = copy.deepcopy(template)
        svc["name"], svc["perPod"]["aliasPrefix"] = f"svc-{i}", "src-"
        svc.pop("alias", None)
        raw["services"].append(svc)
    raw["services"][1777]["consumers"][0]["cluster"] = "cluster-z"
    with pytest.raises(Exception) as exc:
        parse_config(raw, PROJECT)
    assert exc.value.problems == [  # type: ignore[attr-defined]
        "meshbridge:services[1777].consumers[0].cluster: unknown cluster 'cluster-z' (known: cluster-a, cluster-b)"
    ]


# ------------------------------------------------------------------------------- the schema


def test_committed_istio_schemas_are_the_pinned_crds() -> None:
    from stacks.config.trafficpolicy import CRD_FILE, SCHEMA_FILE, build_schema, render_schema

    crd = require_shared(CRD_FILE)
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(build_schema(crd)), (
        "stacks/config/schemas is stale: run `make istio-schemas`"
    )


def test_missing_schema_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks.config import trafficpolicy

    monkeypatch.setattr(trafficpolicy, "SCHEMA_FILE", tmp_path / "missing.json")
    trafficpolicy._document.cache_clear()
    try:
        with pytest.raises(Exception) as exc:
            parse_config(_raw("staging"), PROJECT)
        lines = exc.value.problems  # type: ignore[attr-defined]
        assert "meshbridge:services[0].trafficPolicy: cannot be checked:" in lines[0]
        assert all("cannot be checked" in line and "missing.json is missing or damaged" in line for line in lines)
    finally:
        monkeypatch.undo()
        trafficpolicy._document.cache_clear()


def test_traffic_policies_of_both_stacks_pass_istios_own_validation() -> None:
    # the policies meshbridge renders from the stack files are valid for the real CRD schema too
    from tests.validators import validate_object

    for stack in ("staging", "production"):
        for s in _raw(stack)["services"]:
            if "trafficPolicy" in s:
                dr = {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "DestinationRule",
                    "metadata": {"name": "x", "namespace": "istio-system"},
                    "spec": {"host": "x.local", "trafficPolicy": s["trafficPolicy"]},
                }
                assert validate_object(dr) == []


def test_owned_objects_cover_everything_meshbridge_renders() -> None:
    # the ownership check must know every object meshbridge creates, or a distributed manifest could
    # replace one unnoticed
    for stack in ("staging", "production", "certmanager", "pca", "vm", "primary-remote", "discovery"):
        result = run_program(stack)
        cfg = parse_config(_raw(stack), PROJECT)
        owned = owned_objects(cfg)
        distributed = {(o["kind"], o["metadata"]["name"]) for objs in cfg.distribute_manifests for o in objs} | {
            (o["kind"], o["metadata"]["name"]) for d in cfg.distribute for o in d.manifests or []
        }
        for cluster, files in k8s_objects(result).items():
            idents = {(k, ns, n) for (_, k, ns, n) in owned[cluster]}
            for obj in files.values():
                meta = obj["metadata"]
                if (obj["kind"], meta["name"]) in distributed:
                    continue
                assert (obj["kind"], meta.get("namespace", ""), meta["name"]) in idents, (
                    stack,
                    cluster,
                    obj["kind"],
                    meta,
                )


def _raw(stack: str) -> dict[str, Any]:
    cfg = stack_config(stack)["config"]
    return {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("meshbridge:")}


def test_accepted_values_are_kept_as_written() -> None:
    # no silent normalisation: what the stack file says is what the model holds
    raw = _raw("staging")
    raw["mesh"]["istio"]["repository"] = "https://charts.example.com/istio/"
    cfg = parse_config(raw, PROJECT)
    assert cfg.mesh.istio.repository == "https://charts.example.com/istio/"
    assert json.loads(json.dumps(cfg.services[0].traffic_policy)) == raw["services"][0]["trafficPolicy"]


def test_stack_file_values_resolve_like_the_pulumi_cli(tmp_path: Path) -> None:
    # YAML 1.1 words are strings (as the Pulumi CLI reads them), so `protectRoot: yes` is refused
    # instead of silently becoming true
    text = STAGING_TEXT.replace("    organization: Istio\n", "    organization: Istio\n    protectRoot: yes\n")
    result = run_program("staging", _write(tmp_path, text.encode()))
    _refused(result, "meshbridge:ca.protectRoot:")


def test_loader_returns_plain_values() -> None:
    from stacks.config.yamlsafe import load_yaml

    assert load_yaml(b"a: [1, 0x10, 0o10, 1.5, .inf, true, null, yes, '08', 1.30.3]\n") == {
        "a": [1, 16, 8, 1.5, float("inf"), True, None, "yes", "08", "1.30.3"]
    }
    assert yaml.safe_load("a: 1") == load_yaml("a: 1")
