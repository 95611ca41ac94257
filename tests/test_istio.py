"""Istio control plane and east-west gateways, checked on the real program through synth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest
import yaml

from stacks.config.load import parse_config
from stacks.config.model import MeshConfig
from synth.engine import Registration, SynthResult, redact, unwrap
from synth.render import HELM_CHART, is_k8s_object, k8s_object, write_tree
from tests.conftest import PROJECT, cluster_objects, provider_cluster, require_shared, run_variant, stack_config
from tests.validators import ISTIO_VERSION, validate_object

STACKS = ("staging", "production")
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
MESH_CLUSTER = "meshbridge:cluster:MeshCluster"
CONTROL_PLANE = "meshbridge:istio:IstioControlPlane"
EASTWEST = "meshbridge:istio:EastWestGateway"
SHARED = f"istio/{ISTIO_VERSION}"
VALUES_FILES = {"base": "base-values.yaml", "istiod": "istiod-values.yaml", "gateway": "gateway-values.yaml"}
# Maps in the charts' values that are free-form by design, so any key below them is legitimate:
# istiod `meshConfig` is the MeshConfig API (istio.mesh.v1alpha1, the values file says so) and `env`
# the istiod environment; gateway `labels` are Kubernetes labels. (Empty `{}` defaults are free-form too.)
FREE_FORM = {"istiod": {("meshConfig",), ("env",)}, "gateway": {("labels",), ("podAnnotations",)}, "base": set()}
INTERNAL_DEFAULTS = "_internal_defaults_do_not_set"


# ------------------------------------------------------------------------------- helpers


def mesh_config(stack: str, mutate: Any = None) -> MeshConfig:
    """The validated config of a stack file (the same model the program uses)."""
    cfg = stack_config(stack)["config"]
    if mutate is not None:
        mutate(cfg)
    raw = {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("meshbridge:")}
    return parse_config(raw, PROJECT)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def result(stack: str, request: pytest.FixtureRequest) -> SynthResult:
    res: SynthResult = request.getfixturevalue(stack)
    return res


@pytest.fixture
def cfg(stack: str) -> MeshConfig:
    return mesh_config(stack)


def by_name(result: SynthResult, typ: str, name: str) -> Registration:
    found = [r for r in result.registrations if r.type == typ and r.name == name]
    assert len(found) == 1, f"expected one {typ} named {name}, found {len(found)}"
    return found[0]


def maybe(result: SynthResult, typ: str, name: str) -> Optional[Registration]:
    found = [r for r in result.registrations if r.type == typ and r.name == name]
    return found[0] if found else None


def release(result: SynthResult, cluster: str, name: str) -> Registration:
    """A helm release of `cluster`, by its Pulumi resource name suffix (base, istiod, ...)."""
    return by_name(result, HELM_CHART, f"{cluster}-{name}")


def values(reg: Registration) -> dict[str, Any]:
    return redact(reg.inputs.get("values") or {})  # type: ignore[no-any-return]


def cacerts(result: SynthResult, cluster: str) -> Registration:
    found = [
        r
        for r in result.by_type(SECRET)
        if (r.inputs.get("metadata") or {}).get("name") == "cacerts"
        and (r.inputs.get("metadata") or {}).get("namespace") == "istio-system"
        and provider_cluster(result, r) == cluster
    ]
    assert len(found) == 1, f"{cluster}: expected one cacerts Secret in istio-system, found {len(found)}"
    return found[0]


def owner(result: SynthResult, urn: str) -> Optional[str]:
    """The cluster a resource belongs to: its MeshCluster ancestor, else its provider's cluster."""
    regs = {r.urn: r for r in result.registrations}
    reg = regs.get(urn)
    first = reg
    while reg is not None:
        if reg.type == MESH_CLUSTER:
            return reg.name
        reg = regs.get(reg.parent)
    return provider_cluster(result, first) if first is not None else None


def closure(result: SynthResult, urn: str) -> set[str]:
    """Every URN `urn` depends on, directly or transitively (from resources.json dependencies)."""
    deps = {r.urn: r.dependencies for r in result.registrations}
    seen: set[str] = set()
    todo = list(deps.get(urn, []))
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo.extend(deps.get(u, []))
    return seen


def key_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Leaf key paths of a values mapping."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in key_paths(v, (*prefix, str(k)))]
    return [prefix]


def chart_defaults(chart: str) -> dict[str, Any]:
    doc = yaml.safe_load(require_shared(f"{SHARED}/{VALUES_FILES[chart]}").read_text())
    # the charts merge `_internal_defaults_do_not_set` under the user's values: those are the keys
    merged = dict(doc.get(INTERNAL_DEFAULTS) or {})
    merged.update({k: v for k, v in doc.items() if k != INTERNAL_DEFAULTS})
    return merged


# keys the chart documents as a commented-out line (`# key: value`) in its values.yaml
COMMENTED = {("istiod", ("base", "validationFailurePolicy")): "# validationFailurePolicy: Fail"}


# keys a chart's templates read that its values file does not list: the base chart's
# defaultrevision-validatingwebhookconfiguration.yaml reads base.validationFailurePolicy, and
# tests/test_first_up.py renders the real chart with it (failurePolicy Fail, Ignore without it)
READ_BY_TEMPLATES = {("base", ("base", "validationFailurePolicy"))}


def unknown_key(chart: str, path: tuple[str, ...]) -> Optional[str]:
    """None when `path` exists in the chart's values file (or lies under a free-form map)."""
    if (chart, path) in READ_BY_TEMPLATES:
        return None
    if (chart, path) in COMMENTED:
        text = require_shared(f"{SHARED}/{VALUES_FILES[chart]}").read_text()
        return None if COMMENTED[(chart, path)] in text else ".".join(path)
    node: Any = chart_defaults(chart)
    for i, key in enumerate(path):
        if path[:i] in FREE_FORM[chart] or (i > 0 and node == {}):
            return None
        if not isinstance(node, dict) or key not in node:
            return ".".join(path)
        node = node[key]
    return None


# --------------------------------------------------------------------------- the releases


def test_control_plane_charts_per_cluster(result: SynthResult, cfg: MeshConfig) -> None:
    istio = cfg.mesh.istio
    for spec in cfg.clusters:
        c = spec.name
        base, istiod = release(result, c, "istio-base"), release(result, c, "istiod")
        for reg, chart, name in ((base, "base", "istio-base"), (istiod, "istiod", "istiod")):
            inputs = redact(reg.inputs)
            assert inputs["chart"] == chart
            assert inputs["version"] == istio.version == "1.30.3"
            assert inputs["repositoryOpts"] == {"repo": istio.repository}
            assert inputs["namespace"] == "istio-system"
            assert inputs["name"] == name
            assert provider_cluster(result, reg) == c, f"{reg.name} is not on {c}'s kubernetes provider"
        # fail-closed default validator; no revision: it stays pointed at `istiod`
        assert values(base) == {"base": {"validationFailurePolicy": "Fail"}}
        tracing = cfg.observability.tracing
        assert tracing is not None  # both shipped stacks trace (tests/test_telemetry.py)
        istiod_values = values(istiod)
        assert istiod_values["meshConfig"].pop("extensionProviders") == [
            {
                "name": "meshbridge-tracing",
                tracing.provider: {"service": tracing.service, "port": tracing.collector_port},
            }
        ]
        assert istiod_values == {
            "base": {"validationFailurePolicy": "Fail"},  # docs/istio.md
            "global": {"meshID": cfg.mesh.id, "multiCluster": {"clusterName": c}, "network": spec.network},
            "meshConfig": {
                "trustDomain": cfg.mesh.trust_domain,
                "defaultConfig": {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}},
            },
        }


def test_eastwest_gateway_release_per_exporting_cluster(result: SynthResult, cfg: MeshConfig) -> None:
    for spec in cfg.clusters:
        c = spec.name
        gw = maybe(result, HELM_CHART, f"{c}-istio-eastwestgateway")
        if not cfg.exported_hosts(c):
            assert gw is None
            continue
        assert gw is not None, f"{c} exports services but has no east-west gateway"
        inputs = redact(gw.inputs)
        assert (inputs["chart"], inputs["version"], inputs["name"]) == (
            "gateway",
            cfg.mesh.istio.version,
            "istio-eastwestgateway",
        )
        assert inputs["repositoryOpts"] == {"repo": cfg.mesh.istio.repository}
        assert inputs["namespace"] == "istio-system"
        assert provider_cluster(result, gw) == c
        v = values(gw)
        assert v["networkGateway"] == spec.network
        assert v["service"] == {"type": "ClusterIP"}
        assert v["labels"]["istio"] == "eastwestgateway"
        assert {p["port"] for p in v["networkGatewayPorts"].values()} == {15021, 15443, 15012, 15017}
        assert v["networkGatewayPorts"]["tls"] == {"port": 15443, "targetPort": 15443}
        assert "revision" not in v


def test_mesh_wide_peer_authentication(result: SynthResult, cfg: MeshConfig) -> None:
    for spec in cfg.clusters:
        pa = by_name(result, PEER_AUTHENTICATION, f"{spec.name}-mesh-peer-authentication")
        obj = k8s_object(pa)
        assert obj["metadata"]["name"] == "default" and obj["metadata"]["namespace"] == "istio-system"
        assert obj["spec"] == {"mtls": {"mode": cfg.mesh.mtls}}
        assert provider_cluster(result, pa) == spec.name
    assert len(result.by_type(PEER_AUTHENTICATION)) == len(cfg.clusters)


def test_cross_network_gateway_hosts_are_exactly_the_exported_hosts(result: SynthResult, cfg: MeshConfig) -> None:
    for spec in cfg.clusters:
        c = spec.name
        hosts = cfg.exported_hosts(c)
        reg = maybe(result, GATEWAY, f"{c}-cross-network-gateway")
        if not hosts:
            assert reg is None
            continue
        assert reg is not None
        assert provider_cluster(result, reg) == c
        obj = k8s_object(reg)
        assert obj["metadata"] == {
            "name": "cross-network-gateway",
            "namespace": "istio-system",
            "labels": {"app.kubernetes.io/managed-by": "meshbridge"},
        }
        assert obj["spec"]["selector"] == {"istio": "eastwestgateway"}
        (server,) = obj["spec"]["servers"]
        assert server["port"] == {"number": 15443, "name": "tls", "protocol": "TLS"}
        assert server["tls"] == {"mode": "AUTO_PASSTHROUGH"}
        assert server["hosts"] == hosts
        assert not any("*" in h for h in server["hosts"])
    # the per-pod hosts of StatefulSets are passed through too (staging: hello-0..2, db-pxc-0..2)
    if cfg.mesh.id == "mesh-staging":
        assert "hello-1.demo.svc.cluster.local" in cfg.exported_hosts("cluster-a")


def test_components_are_a_tree_under_the_cluster(result: SynthResult, cfg: MeshConfig) -> None:
    regs = {r.urn: r for r in result.registrations}
    for comp in result.by_type(CONTROL_PLANE) + result.by_type(EASTWEST):
        parent = regs[comp.parent]
        assert parent.type == MESH_CLUSTER and comp.name.startswith(f"{parent.name}-")
    for r in result.registrations:
        if r.type in (HELM_CHART, GATEWAY, PEER_AUTHENTICATION):
            assert regs[r.parent].type in (CONTROL_PLANE, EASTWEST), r.urn
            assert r.name.startswith(f"{owner(result, r.urn)}-")
            assert provider_cluster(result, r) == owner(result, r.urn)


# ------------------------------------------------------------------------- install order


@pytest.fixture(scope="module", params=STACKS)
def resources_json(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[dict[str, Any]]]:
    stack = str(request.param)
    result: SynthResult = request.getfixturevalue(stack)
    out = tmp_path_factory.mktemp(f"synth-{stack}")
    write_tree(result, out)
    return stack, json.loads((out / "resources.json").read_text())


def test_install_order_in_resources_json(resources_json: tuple[str, list[dict[str, Any]]]) -> None:
    stack, entries = resources_json
    cfg = mesh_config(stack)
    deps = {e["urn"]: set(e["dependencies"]) for e in entries}

    def urn(typ: str, name: str) -> str:
        found = [e["urn"] for e in entries if e["type"] == typ and e["name"] == name]
        assert len(found) == 1, (typ, name)
        return found[0]

    for spec in cfg.clusters:
        c = spec.name
        ns = urn(NAMESPACE, f"{c}-istio-system")
        ca = [
            e["urn"]
            for e in entries
            if e["type"] == SECRET
            and e["inputs"].get("metadata", {}).get("name") == "cacerts"
            and e["name"].startswith(f"{c}-")
        ]
        assert len(ca) == 1, f"{c}: no single cacerts Secret"
        cacerts_urn = ca[0]
        base, istiod = urn(HELM_CHART, f"{c}-istio-base"), urn(HELM_CHART, f"{c}-istiod")
        assert ns in deps[cacerts_urn], "cacerts must wait for istio-system"
        assert deps[base] == {ns}, "base needs the namespace only"
        assert deps[istiod] == {cacerts_urn, base}, "istiod depends on cacerts and base, nothing more"
        pa = urn(PEER_AUTHENTICATION, f"{c}-mesh-peer-authentication")
        # the CRDs of base, and istiod for the validation webhook (failurePolicy Fail)
        assert deps[pa] == {base, istiod}, "PeerAuthentication needs base's CRDs and istiod's webhook"
        if cfg.exported_hosts(c):
            ew, gw = urn(HELM_CHART, f"{c}-istio-eastwestgateway"), urn(GATEWAY, f"{c}-cross-network-gateway")
            assert deps[ew] == {istiod}
            assert deps[gw] == {ew, istiod}
            chain = [ns, cacerts_urn, base, istiod, ew, gw]
        else:
            chain = [ns, cacerts_urn, base, istiod]
        # namespace -> cacerts -> base -> istiod -> east-west gateway -> Gateway: the last of the
        # chain waits (transitively) for everything before it
        seen: set[str] = set()
        todo = [chain[-1]]
        while todo:
            u = todo.pop()
            for d in deps.get(u, ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        assert set(chain[:-1]) <= seen


def test_no_cross_cluster_dependency(result: SynthResult, cfg: MeshConfig) -> None:
    """Each cluster's Istio chain depends only on its own resources (and shared ones such as the
    root CA), so the clusters install in parallel."""
    for r in result.registrations:
        if r.type not in (HELM_CHART, GATEWAY, PEER_AUTHENTICATION, CONTROL_PLANE, EASTWEST):
            continue
        mine = owner(result, r.urn)
        assert mine in [c.name for c in cfg.clusters]
        for dep in closure(result, r.urn):
            other = owner(result, dep)
            assert other in (None, mine), f"{r.urn} depends on {dep} of cluster {other}"


# ----------------------------------------------------------------------------- the values


def test_gateway_values_validate_against_the_chart_schema(result: SynthResult) -> None:
    schema = json.loads(require_shared(f"{SHARED}/gateway-values.schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
    gateways = [r for r in result.by_type(HELM_CHART) if r.inputs.get("chart") == "gateway"]
    assert gateways
    for reg in gateways:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values(reg))]
        assert errors == [], reg.name
    # the schema check is able to fail
    bad = {**values(gateways[0]), "netwrokGateway": "x", "service": {"type": 1}}
    assert len(list(validator.iter_errors(bad))) == 2


def test_every_value_key_exists_in_the_charts_values_file(result: SynthResult) -> None:
    for reg in result.by_type(HELM_CHART):
        chart = str(reg.inputs["chart"]).rsplit("/", 1)[-1]
        assert chart in VALUES_FILES, chart
        v = values(reg)
        assert INTERNAL_DEFAULTS not in v
        missing = [p for p in (unknown_key(chart, path) for path in key_paths(v)) if p]
        assert missing == [], f"{reg.name}: keys not in {VALUES_FILES[chart]}"


def test_key_path_check_is_able_to_fail() -> None:
    assert unknown_key("istiod", ("global", "meshID")) is None
    assert unknown_key("istiod", ("meshConfig", "trustDomain")) is None  # MeshConfig, free-form
    assert unknown_key("istiod", ("env", "ISTIO_MULTIROOT_MESH")) is None  # env: {} default
    assert unknown_key("istiod", ("autoscaleMin",)) is None  # under _internal_defaults_do_not_set
    assert unknown_key("istiod", ("global", "meshId")) == "global.meshId"
    assert unknown_key("istiod", ("pilot", "env", "X")) == "pilot.env.X"  # istioctl-style nesting
    assert unknown_key("gateway", ("networkGatewayPorts", "tls", "port")) is None
    assert unknown_key("gateway", ("service", "typ")) == "service.typ"
    assert unknown_key("base", ("defaultRevision",)) is None
    assert unknown_key("base", ("revision",)) == "revision"


# -------------------------------------------------------------------------- the objects


def test_every_kubernetes_object_validates(result: SynthResult) -> None:
    require_shared(f"{SHARED}/crd-all.gen.yaml")
    problems: list[str] = []
    count = 0
    for reg in result.registrations:
        if is_k8s_object(reg):
            count += 1
            obj = unwrap(reg.inputs)  # real values, secrets included, as they would be applied
            problems.extend(validate_object(obj))
    assert count >= 3 * len([r for r in result.registrations if r.type == MESH_CLUSTER])
    assert problems == []


def test_every_object_synth_writes_validates(result: SynthResult, cfg: MeshConfig) -> None:
    for spec in cfg.clusters:
        objs = cluster_objects(result, spec.name)
        kinds = {o["kind"] for o in objs}
        assert {"Namespace", "Secret", "PeerAuthentication"} <= kinds
        assert [p for o in objs for p in validate_object(o)] == []


# ------------------------------------------------------------------------------- outputs


def test_stack_outputs_per_cluster(result: SynthResult, cfg: MeshConfig) -> None:
    clusters = redact(result.outputs["clusters"])
    for spec in cfg.clusters:
        expected_gw = "istio-eastwestgateway.istio-system.svc.cluster.local" if cfg.exported_hosts(spec.name) else None
        expected = {
            "version": cfg.mesh.istio.version,
            "revision": cfg.mesh.istio.revision,
            "network": spec.network,
            "clusterName": spec.name,
            "eastWestGatewayService": expected_gw,
        }
        # null values are sent to the engine, but the mock engine's deserializer drops None-valued keys
        assert clusters[spec.name]["istio"] == {k: v for k, v in expected.items() if v is not None}


# ------------------------------------------------------------------------------ variants


def _export_nothing_from_cluster_b(config: dict[str, Any]) -> None:
    config["meshbridge:services"] = [s for s in config["meshbridge:services"] if "cluster-b" not in s["exportedFrom"]]


def test_a_cluster_that_exports_nothing_gets_no_eastwest_gateway(tmp_path: Path) -> None:
    res = run_variant(tmp_path, _export_nothing_from_cluster_b)
    assert res.ok, res.errors
    assert maybe(res, HELM_CHART, "cluster-b-istio-eastwestgateway") is None
    assert maybe(res, GATEWAY, "cluster-b-cross-network-gateway") is None
    assert [r.name for r in res.by_type(EASTWEST)] == ["cluster-a-istio-eastwest"]
    # it still runs its own control plane (it consumes services)
    assert maybe(res, HELM_CHART, "cluster-b-istiod") is not None
    assert res.outputs["clusters"]["cluster-b"]["istio"].get("eastWestGatewayService") is None
    assert res.outputs["clusters"]["cluster-a"]["istio"]["eastWestGatewayService"] is not None


def test_revision_is_carried_by_every_release(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["meshbridge:mesh"]["istio"]["revision"] = "1-30-3"

    res = run_variant(tmp_path, mutate)
    assert res.ok, res.errors
    for c in ("cluster-a", "cluster-b"):
        # the Pulumi name, the Helm release and the Service name carry the revision; the alias keeps
        # what was deployed as `<cluster>-istiod`
        istiod = release(res, c, "istiod-1-30-3")
        assert f"{c}-istiod" in istiod.aliases
        assert istiod.inputs["name"] == "istiod-1-30-3"
        assert values(istiod)["revision"] == "1-30-3"
        assert values(release(res, c, "istio-base")) == {
            "base": {"validationFailurePolicy": "Fail"},
            "defaultRevision": "1-30-3",
        }
        assert values(release(res, c, "istio-eastwestgateway"))["revision"] == "1-30-3"
        assert res.outputs["clusters"][c]["istio"]["revision"] == "1-30-3"
    for reg in res.by_type(HELM_CHART):
        chart = str(reg.inputs["chart"])
        assert [p for p in (unknown_key(chart, path) for path in key_paths(values(reg))) if p] == []


def test_several_roots_turn_on_multiroot_in_istiod(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["meshbridge:ca"]["roots"] = [{"name": "root"}, {"name": "root-2027"}]
        config["meshbridge:ca"]["activeRoot"] = "root"

    res = run_variant(tmp_path, mutate)
    assert res.ok, res.errors
    for c in ("cluster-a", "cluster-b"):
        assert values(release(res, c, "istiod"))["env"] == {"ISTIO_MULTIROOT_MESH": "true"}
    # one root: not set (see test_control_plane_charts_per_cluster)


def test_oci_repository(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["meshbridge:mesh"]["istio"]["repository"] = "oci://registry.example.com/istio-charts/"

    res = run_variant(tmp_path, mutate)
    assert res.ok, res.errors
    istiod = redact(release(res, "cluster-a", "istiod").inputs)
    assert istiod["chart"] == "oci://registry.example.com/istio-charts/istiod"
    assert "repositoryOpts" not in istiod


def test_mtls_permissive(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["meshbridge:mesh"]["mtls"] = "PERMISSIVE"

    res = run_variant(tmp_path, mutate)
    assert res.ok, res.errors
    modes = {k8s_object(r)["spec"]["mtls"]["mode"] for r in res.by_type(PEER_AUTHENTICATION)}
    assert modes == {"PERMISSIVE"}


BAD_INPUTS = [
    ("meshbridge:mesh.istio.version", lambda c: c["meshbridge:mesh"]["istio"].update(version="1.30")),
    ("meshbridge:mesh.istio.revision", lambda c: c["meshbridge:mesh"]["istio"].update(revision="Canary_1")),
    ("meshbridge:mesh.mtls", lambda c: c["meshbridge:mesh"].update(mtls="STRICTEST")),
]


@pytest.mark.parametrize(("key", "mutate"), BAD_INPUTS, ids=[k for k, _ in BAD_INPUTS])
def test_bad_istio_inputs_fail_before_any_resource(tmp_path: Path, key: str, mutate: Any) -> None:
    res = run_variant(tmp_path, mutate)
    assert res.registrations == []
    assert any(line.startswith(f"{key}: ") for line in res.errors), res.errors


def test_bad_istio_input_exits_2(tmp_path: Path) -> None:
    doc = stack_config("staging")
    doc["config"]["meshbridge:mesh"]["istio"]["revision"] = "Canary_1"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth",
            "--stack",
            "staging",
            "--config-file",
            str(path),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "meshbridge:mesh.istio.revision: " in proc.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- ingress gateways (issue 27)

NLB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"


def test_an_ingress_gateway_is_its_own_gateway_release_behind_an_internal_nlb(tmp_path: Path) -> None:
    from synth.engine import run_program

    result = run_program("ingress")
    assert result.ok, result.errors
    charts = {r.name: r for r in result.by_type(HELM_CHART)}
    ingress = charts["cluster-a-istio-ingressgateway"]
    assert "cluster-b-istio-ingressgateway" not in charts  # only where a cluster asks for one
    v = values(ingress)
    assert ingress.inputs["name"] == "istio-ingressgateway" and ingress.inputs["chart"] == "gateway"
    assert v["labels"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert v["service"] == {
        "type": "LoadBalancer",
        "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            NLB_SCHEME: "internal",
        },
    }
    schema = json.loads(require_shared(f"{SHARED}/gateway-values.schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
    assert [e.message for e in validator.iter_errors(v)] == []
    assert [p for p in (unknown_key("gateway", path) for path in key_paths(v)) if p] == []
    # injected by the cluster's istiod: it waits for it
    assert charts["cluster-a-istiod"].urn in ingress.dependencies
    istio = result.outputs["clusters"]["cluster-a"]["istio"]
    assert istio["ingressGatewayService"] == "istio-ingressgateway.istio-system.svc.cluster.local"
    assert "ingressGatewayService" not in result.outputs["clusters"]["cluster-b"]["istio"]

    asked = run_variant(
        tmp_path,
        lambda cfg: cfg["meshbridge:clusters"][0].update(ingressGateway={"scheme": "internet-facing"}),
        stack="ingress",
    )
    facing = next(r for r in asked.by_type(HELM_CHART) if r.name == "cluster-a-istio-ingressgateway")
    assert values(facing)["service"]["annotations"][NLB_SCHEME] == "internet-facing"
    # local connectivity: a plain LoadBalancer Service (MetalLB, k3d's servicelb), no AWS annotation
    local = run_variant(tmp_path, lambda cfg: cfg["meshbridge:clusters"][0].update(ingressGateway={}), stack="local")
    assert local.ok, local.errors
    plain = next(r for r in local.by_type(HELM_CHART) if r.name.endswith("-istio-ingressgateway"))
    assert values(plain)["service"] == {"type": "LoadBalancer"}
