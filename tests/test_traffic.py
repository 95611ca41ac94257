"""Issue 12, "Fix what would break real traffic": one test per item, named after it.

Each test runs the real program (synth) on the shipped stacks or a variant of them and asserts what
a team would notice after `pulumi up`: which calls keep working, what the preview says, which
configuration is refused (with its key path, before any resource is registered).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from components.services import AllowedCaller, ServiceExportArgs, ServicePort, authorization_rules
from policy.rules import Res, violations
from stacks.config.load import parse_config
from stacks.config.problems import ConfigError
from synth.check import check_paths, extract_objects
from synth.engine import SynthResult, redact, run_program, unwrap
from synth.render import k8s_object, summary, write_tree
from tests.conftest import cluster_objects, of_type, provider_cluster, run_variant, stack_config, stacks
from tests.tls_fake import TlsFake

TD = "cluster.local"
S = "meshbridge:services"
D = "meshbridge:distribute"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
HELM = "meshbridge:helm:Chart"
READINESS_GATE = "elbv2.k8s.aws/pod-readiness-gate-inject"


def service(cfg: dict[str, Any], name: str, namespace: Optional[str] = None) -> dict[str, Any]:
    return next(s for s in cfg[S] if s["name"] == name and (namespace is None or s["namespace"] == namespace))


def find(result: SynthResult, cluster: str, kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
    for obj in cluster_objects(result, cluster):
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} in {cluster}")


def names_of(result: SynthResult, cluster: str, kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in cluster_objects(result, cluster) if o["kind"] == kind}


def refused(result: SynthResult, *prefixes: str) -> list[str]:
    """The result is a refusal that registered nothing, with one line per prefix."""
    assert not result.ok, "the configuration was accepted"
    assert result.registrations == [], "resources were registered before the refusal"
    for prefix in prefixes:
        assert any(e.startswith(prefix) for e in result.errors), (prefix, result.errors)
    return result.errors


def raw_config(stack: str = "staging") -> dict[str, Any]:
    """The `meshbridge:*` values of a stack file, as parse_config takes them."""
    return {k.split(":", 1)[1]: v for k, v in stack_config(stack)["config"].items() if k.startswith("meshbridge:")}


def parse_problems(raw: dict[str, Any], root: Path = Path(__file__).resolve().parent.parent) -> list[str]:
    try:
        parse_config(raw, root)
    except ConfigError as exc:
        return exc.problems
    return []


def deps_closure(result: SynthResult, urn: str) -> set[str]:
    deps = {r.urn: set(r.dependencies) for r in result.registrations}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for d in deps.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


BAD_SIDECAR = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Sidecar",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"egress": [{"hosts": ["./*", "istio-system/*"]}]},
}


# ------------------------------------------------------------------------------------- item 1


def test_item1_root_namespace_sidecar_keeps_every_namespace(tmp_path: Path) -> None:
    # no shipped stack pushes a root-namespace default Sidecar that cuts other namespaces off
    for stack in stacks():
        result = run_program(stack)
        assert result.ok, result.errors
        for cluster in {provider_cluster(result, r) for r in result.registrations} - {None}:
            for obj in cluster_objects(result, str(cluster)):
                if obj["kind"] == "Sidecar" and obj["metadata"].get("namespace") == "istio-system":
                    catch_all = [e for e in obj["spec"].get("egress") or [] if not e.get("port")]
                    assert not obj["spec"].get("egress") or any("*/*" in e["hosts"] for e in catch_all), obj

    # the configuration check refuses one, with the key path of the manifest (manifests or file)
    def add_bad(cfg: dict[str, Any]) -> None:
        cfg[D].append({"name": "narrow", "clusterSelector": {"mesh": "enabled"}, "manifests": [BAD_SIDECAR]})

    errors = refused(run_variant(tmp_path, add_bad), "meshbridge:distribute[2].manifests[0].spec.egress[0].hosts: ")
    assert any("*/*" in e and "PassthroughCluster" in e for e in errors)
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump(BAD_SIDECAR))
    raw = raw_config()
    raw["distribute"][1]["file"] = "narrow.yaml"
    assert [p for p in parse_problems(raw, tmp_path) if p.startswith("meshbridge:distribute[1].file[0].spec.egress")]
    # only port-specific listeners: other ports are cut off as well
    only_ports = copy.deepcopy(BAD_SIDECAR)
    only_ports["spec"]["egress"] = [{"port": {"number": 80, "protocol": "HTTP", "name": "h"}, "hosts": ["*/*"]}]
    raw = raw_config()
    raw["distribute"][1] = {"name": "narrow", "clusterSelector": {"mesh": "enabled"}, "manifests": [only_ports]}
    assert any(p.startswith("meshbridge:distribute[1].manifests[0].spec.egress: ") for p in parse_problems(raw))
    # ... but a Sidecar with a workloadSelector, in another namespace, or keeping */* is fine
    for fine in (
        {**BAD_SIDECAR, "spec": {**BAD_SIDECAR["spec"], "workloadSelector": {"labels": {"app": "x"}}}},
        {**BAD_SIDECAR, "metadata": {"name": "default", "namespace": "team-a"}},
        {**BAD_SIDECAR, "spec": {"egress": [{"hosts": ["./*", "*/*"]}]}},
    ):
        raw = raw_config()
        raw["distribute"][1] = {"name": "narrow", "clusterSelector": {"mesh": "enabled"}, "manifests": [fine]}
        assert parse_problems(raw) == [], fine

    # and the policy pack reports it
    from policy.rules import root_sidecar_keeps_all_namespaces

    res = Res(
        "kubernetes:networking.istio.io/v1:Sidecar",
        "cluster-a-narrow-sidecar-istio-system-default",
        urn="urn:pulumi:production::meshbridge::kubernetes:networking.istio.io/v1:Sidecar::x",
        props=BAD_SIDECAR,
    )
    (message,) = root_sidecar_keeps_all_namespaces(res)
    assert "spec.egress[0].hosts" in message and "*/*" in message
    assert [name for name, _ in violations([res])] == ["root-sidecar-keeps-all-namespaces"]


# ------------------------------------------------------------------------------------- item 2


def test_item2_local_callers_are_explicit_and_never_widen_a_consumer(
    tmp_path: Path, staging: SynthResult, caplog: pytest.LogCaptureFixture
) -> None:
    # staging's backend-api declares no local caller: only frontend, with its methods
    rules = find(staging, "cluster-b", "AuthorizationPolicy", "meshbridge-export-backend-api", "default")["spec"]
    assert rules["rules"] == [
        {
            "from": [{"source": {"principals": [f"{TD}/ns/default/sa/frontend"]}}],
            "to": [{"operation": {"methods": ["GET", "POST"]}}],
        }
    ]
    # the documented default (hello): every workload of the service's namespace, nothing else
    hello = find(staging, "cluster-a", "AuthorizationPolicy", "meshbridge-export-hello", "demo")["spec"]["rules"]
    assert hello[-1] == {"from": [{"source": {"namespaces": ["demo"]}}]}
    # the synth summary states what is admitted
    text = summary(staging, None)
    assert (
        "cluster-b default/meshbridge-export-backend-api ALLOW: cluster.local/ns/default/sa/frontend "
        "(methods GET, POST)" in text
    )
    assert "every workload of namespace demo (everything)" in text

    # explicit local callers: an ingress gateway in istio-system, clients outside pxc
    def declare(cfg: dict[str, Any]) -> None:
        service(cfg, "db-pxc")["localCallers"] = {
            "namespaces": ["pxc"],
            "principals": ["istio-system/istio-ingressgateway", "shop/orders"],
        }

    with caplog.at_level(logging.INFO):
        result = run_variant(tmp_path, declare)
    assert result.ok, result.errors
    # `pulumi preview` states it too (info diagnostics of the ServiceExport)
    assert (
        "cluster-a: pxc/db-pxc admits pxc/db-pxc (consumer cluster-b: everything); localCallers: every workload "
        "of namespace pxc, istio-system/istio-ingressgateway, shop/orders (everything); anyone else is denied"
    ) in caplog.messages
    assert (
        "cluster-b: default/backend-api admits default/frontend (consumer cluster-a: methods GET, POST); "
        "localCallers: none; anyone else is denied" in caplog.messages
    )
    rules = find(result, "cluster-a", "AuthorizationPolicy", "meshbridge-export-db-pxc", "pxc")["spec"]["rules"]
    assert rules[-1] == {
        "from": [
            {"source": {"namespaces": ["pxc"]}},
            {"source": {"principals": [f"{TD}/ns/istio-system/sa/istio-ingressgateway", f"{TD}/ns/shop/sa/orders"]}},
        ]
    }

    # a local rule that admits a consumer principal restricted to methods/paths is refused
    def default_widens(cfg: dict[str, Any]) -> None:
        del service(cfg, "backend-api")["localCallers"]

    errors = refused(run_variant(tmp_path, default_widens), "meshbridge:services[0].localCallers: the default")
    assert any("default/frontend" in e for e in errors)
    raw = raw_config()
    raw["services"][0]["localCallers"] = {"namespaces": ["web", "default"]}
    assert any(p.startswith("meshbridge:services[0].localCallers.namespaces[1]: ") for p in parse_problems(raw))
    raw["services"][0]["localCallers"] = {"principals": ["default/frontend"]}
    assert any(p.startswith("meshbridge:services[0].localCallers.principals[0]: ") for p in parse_problems(raw))
    raw["services"][0]["consumers"][0]["paths"] = ["/api/*"]
    del raw["services"][0]["consumers"][0]["methods"]
    assert any(p.startswith("meshbridge:services[0].localCallers.principals[0]: ") for p in parse_problems(raw))

    # `methods: []` / `paths: []` never mean "everything"
    for key in ("methods", "paths"):
        raw = raw_config()
        raw["services"][0]["consumers"][0][key] = []
        assert any(p.startswith(f"meshbridge:services[0].consumers[0].{key}: ") for p in parse_problems(raw)), key
        with pytest.raises(ValueError, match="empty"):
            authorization_rules(
                ServiceExportArgs(
                    cluster="c",
                    service="s",
                    namespace="n",
                    trust_domain=TD,
                    workload_selector={"app": "s"},
                    ports=[ServicePort(80, "http", "HTTP")],
                    callers=[AllowedCaller(principals=["a/b"], **{key: []})],
                    provider=None,  # type: ignore[arg-type]
                    local_namespaces=[],
                )
            )


# ------------------------------------------------------------------------------------- item 3


# every stack on AWS (local connectivity has no TargetGroupBinding: tests/test_local.py)
@pytest.mark.parametrize(
    "stack", [s for s in stacks() if stack_config(s)["config"]["meshbridge:mesh"].get("connectivity") != "local"]
)
def test_item3_gateway_namespace_is_labelled_for_pod_readiness_gates(stack: str) -> None:
    result = run_program(stack)
    assert result.ok, result.errors
    bindings = of_type(result, TGB)
    assert bindings
    for tgb in bindings:
        cluster = str(provider_cluster(result, tgb))
        ns = tgb.inputs["metadata"]["namespace"]
        namespace = find(result, cluster, "Namespace", ns)
        assert namespace["metadata"]["labels"][READINESS_GATE] == "enabled", cluster
        release = next(r for r in of_type(result, HELM) if r.name == f"{cluster}-istio-eastwestgateway")
        assert release.urn in tgb.dependencies, f"{tgb.name} does not wait for the gateway release"


def test_item3_no_readiness_label_without_a_target_group_binding(tmp_path: Path) -> None:
    # cluster-b exports nothing any more: no NLB, no TargetGroupBinding, no label
    result = run_variant(tmp_path, lambda cfg: cfg[S].pop(0))
    assert result.ok, result.errors
    assert {provider_cluster(result, r) for r in of_type(result, TGB)} == {"cluster-a"}
    assert READINESS_GATE not in find(result, "cluster-b", "Namespace", "istio-system")["metadata"]["labels"]


# ------------------------------------------------------------------------------------- item 4


def test_item4_failover_local_endpoint_is_one_host_per_pod(production: SynthResult) -> None:
    for consumer in ("prod-use1", "prod-usw2", "prod-euw1"):
        # the producer side has a headless twin of checkout selecting its pods
        twin = find(production, consumer, "Service", "checkout-meshbridge-local", "shop")
        assert twin["spec"]["clusterIP"] == "None"
        assert twin["spec"]["selector"] == {"app": "checkout"}
        assert [(p["port"], p["targetPort"]) for p in twin["spec"]["ports"]] == [(8080, 8080), (9090, 9090)]
        # the failover host's local endpoint is that twin (DNS gives one address, one Envoy host, per pod)
        se = find(production, consumer, "ServiceEntry", "checkout.shop.mesh", "istio-system")
        local = [e for e in se["spec"]["endpoints"] if e["network"] == find_network(production, consumer)]
        assert [e["address"] for e in local] == ["checkout-meshbridge-local.shop.svc.cluster.local"]
        assert not [e for e in se["spec"]["endpoints"] if e["address"] == "checkout.shop.svc.cluster.local"]
        assert se["spec"]["resolution"] == "DNS"
    # a single-producer service gets no twin
    assert "ledger-meshbridge-local" not in names_of(production, "prod-use1", "Service")
    # the reachability check follows the local endpoint to the twin and refuses a ClusterIP one
    assert [r.line() for r in check_paths(production) if not r.ok] == []
    objects = extract_objects(production)
    for obj in objects["prod-usw2"].values():
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "checkout-meshbridge-local":
            obj["spec"]["clusterIP"] = "10.0.0.1"
    broken = [r for r in check_paths(production, objects=objects) if not r.ok]
    assert broken and all(r.consumer == "prod-usw2" and r.local for r in broken)
    assert all("is not headless" in r.reason for r in broken)


def find_network(result: SynthResult, cluster: str) -> str:
    return str(unwrap(result.outputs)["clusters"][cluster]["network"])


# ------------------------------------------------------------------------------------- item 5


def test_item5_per_pod_service_host_is_imported_only_under_an_alias(tmp_path: Path, staging: SynthResult) -> None:
    entries = names_of(staging, "cluster-b", "ServiceEntry")
    # cluster-b runs db-pxc and hello too: their own names are never imported (Istio would keep the
    # local Service and ignore the import, silently)
    assert "db-pxc.pxc.svc.cluster.local" not in entries
    assert "hello.demo.svc.cluster.local" not in entries
    assert "hello.cluster-a.local" in entries  # hello's service host, under its alias
    assert {f"src-db-pxc-{i}.pxc.svc.cluster.local" for i in range(3)} <= entries
    # what nobody imports is not passed through the producer's gateway either
    hosts = find(staging, "cluster-a", "Gateway", "cross-network-gateway", "istio-system")["spec"]["servers"][0]
    assert "db-pxc.pxc.svc.cluster.local" not in hosts["hosts"]
    assert "hello.demo.svc.cluster.local" in hosts["hosts"]

    # an alias never equals a host the consumer's own Service or pod would have
    result = run_variant(tmp_path, lambda cfg: service(cfg, "db-pxc")["perPod"].update(aliasPrefix=""))
    refused(result, "meshbridge:services[2].perPod.aliasPrefix: required")
    raw = raw_config()
    raw["services"][1]["alias"] = "hello.demo.svc.cluster.local"
    assert any(p.startswith("meshbridge:services[1].alias: ") for p in parse_problems(raw))
    raw = raw_config()
    raw["services"][1]["perPod"]["aliasPrefix"] = "db-"  # db-hello-0.demo... fine
    raw["services"][2]["namespace"] = "demo"
    raw["services"][2]["name"] = "db-hello"  # its real per-pod host db-hello-0.demo.svc.cluster.local
    assert any(p.startswith("meshbridge:services[1].perPod.aliasPrefix: host ") for p in parse_problems(raw))


# ------------------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("stack", stacks())
def test_item6_istiod_fails_validation_closed_and_istio_objects_wait_for_it(stack: str) -> None:
    result = run_program(stack)
    assert result.ok, result.errors
    # the istiod the default tag points at (the unrevisioned `<c>-istiod`, else `<c>-istiod-<revision>`)
    clusters = result.outputs["clusters"]
    wanted = {
        f"{c}-istiod" + (f"-{o['istio']['revision']}" if o["istio"].get("revision") else "")
        for c, o in clusters.items()
    }
    istiod = {str(provider_cluster(result, r)): r for r in of_type(result, HELM) if r.name in wanted}
    assert len(istiod) == len(clusters)
    for release in istiod.values():
        assert redact(release.inputs)["values"]["base"] == {"validationFailurePolicy": "Fail"}
    istio_objects = [
        r
        for r in result.registrations
        if r.custom and r.type.startswith("kubernetes:") and r.type.split(":")[1].split("/")[0].endswith(".istio.io")
    ]
    kinds = {r.inputs["kind"] for r in istio_objects}
    # a stack whose services all use endpoint discovery imports nothing explicitly
    explicit = any(
        s.get("importMode", "explicit") == "explicit"
        for s in stack_config(stack)["config"].get("meshbridge:services", [])
    )
    imports = {"ServiceEntry", "DestinationRule"} if explicit else set()
    assert {"PeerAuthentication", "Gateway", "AuthorizationPolicy", *imports} <= kinds
    for reg in istio_objects:
        cluster = str(provider_cluster(result, reg))
        assert istiod[cluster].urn in deps_closure(result, reg.urn), f"{reg.name} does not wait for istiod"
    for reg in istio_objects:
        if reg.inputs["kind"] in ("PeerAuthentication", "Gateway"):  # the first ones: directly
            assert istiod[str(provider_cluster(result, reg))].urn in reg.dependencies, reg.name


# ------------------------------------------------------------------------------------- item 7


def _api(namespace: str, producer: str, consumer: str, name: str = "api") -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "exportedFrom": [producer],
        "ports": [{"port": 80, "name": "http", "protocol": "HTTP"}],
        "alias": f"{name}.{namespace}.{producer}.mesh",
        "consumers": [{"cluster": consumer, "principals": ["web/client"]}],
    }


def test_item7_services_are_identified_by_namespace_and_name(tmp_path: Path, staging: SynthResult) -> None:
    # the private-NLB guide: two web servers named `api` in two namespaces
    def two_apis(cfg: dict[str, Any]) -> None:
        cfg[S] += [
            _api("cluster1-webserver", "cluster-a", "cluster-b"),
            _api("cluster2-webserver", "cluster-b", "cluster-a"),
        ]

    result = run_variant(tmp_path, two_apis)
    assert result.ok, result.errors
    assert "meshbridge-export-api" in names_of(result, "cluster-a", "AuthorizationPolicy")
    assert find(result, "cluster-b", "AuthorizationPolicy", "meshbridge-export-api", "cluster2-webserver")
    exports = {r.name: r for r in of_type(result, "meshbridge:services:ServiceExport")}
    assert {"cluster-a-export-cluster1-webserver-api", "cluster-b-export-cluster2-webserver-api"} <= set(exports)
    # `cluster-a-export-api` would be ambiguous: no alias to it
    assert exports["cluster-a-export-cluster1-webserver-api"].aliases == []
    assert [r.line() for r in check_paths(result) if not r.ok] == []

    # existing stacks keep their resources: the components carry their old names as aliases, and
    # nothing physical changes its name
    for reg in of_type(staging, "meshbridge:services:ServiceExport") + of_type(
        staging, "meshbridge:services:ServiceImport"
    ):
        spec = next(s for s in raw_config()["services"] if reg.name.endswith(f"-{s['namespace']}-{s['name']}"))
        old = reg.name.replace(f"-{spec['namespace']}-{spec['name']}", f"-{spec['name']}")
        assert reg.aliases == [old], reg.name
    assert "cluster-a-demo-hello-authz" in {r.name for r in staging.registrations}
    assert "cluster-a-to-cluster-b" in {r.name for r in staging.registrations}

    # no two inputs make the same resource name: refused with the key path
    def lookalikes(cfg: dict[str, Any]) -> None:
        cfg[S] += [
            _api("shop", "cluster-a", "cluster-b", name="api-gateway"),
            _api("shop-api", "cluster-a", "cluster-b", name="gateway"),
        ]

    errors = refused(run_variant(tmp_path, lookalikes), "meshbridge:services[4]: resource name ")
    assert any("shop/api-gateway" in e and "shop-api/gateway" in e for e in errors)

    raw = raw_config()
    base = raw["clusters"][0]
    raw["clusters"] = [
        {**copy.deepcopy(base), "name": name, "network": f"net-{name}", "kubernetes": {"context": name}}
        for name in ("a", "b-to-c", "a-to-b", "c")
    ]
    raw["services"] = [_api("x", "b-to-c", "a"), _api("y", "c", "a-to-b")]
    raw["distribute"] = []
    problems = parse_problems(raw)
    assert any(p.startswith("meshbridge:clusters[2].name: resource name 'a-to-b-to-c'") for p in problems), problems


# ------------------------------------------------------------------------------------- item 8


def test_item8_per_pod_services_use_the_target_port(tmp_path: Path, staging: SynthResult) -> None:
    # default: the port itself
    svc = find(staging, "cluster-a", "Service", "db-pxc-0", "pxc")
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(3306, 3306)]

    def target(cfg: dict[str, Any]) -> None:
        service(cfg, "db-pxc")["ports"][0]["targetPort"] = 33060

    result = run_variant(tmp_path, target)
    assert result.ok, result.errors
    for i in range(3):
        svc = find(result, "cluster-a", "Service", f"db-pxc-{i}", "pxc")
        assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(3306, 33060)]
    # consumers still call the Service port
    se = find(result, "cluster-b", "ServiceEntry", "src-db-pxc-0.pxc.svc.cluster.local", "istio-system")
    assert se["spec"]["ports"] == [{"name": "mysql", "number": 3306, "protocol": "TCP"}]
    assert [r.line() for r in check_paths(result) if not r.ok] == []
    # the check knows the pods' port: a per-pod Service sending elsewhere is a broken link
    objects = extract_objects(result)
    for obj in objects["cluster-a"].values():
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "db-pxc-1":
            obj["spec"]["ports"][0]["targetPort"] = 3306
    (broken,) = [r for r in check_paths(result, objects=objects) if not r.ok]
    assert broken.host == "src-db-pxc-1.pxc.svc.cluster.local" and "targetPort" in broken.reason

    # a failover service's local endpoint reaches the pods on their port too (headless twin)
    def checkout_target(cfg: dict[str, Any]) -> None:
        service(cfg, "checkout")["ports"][0]["targetPort"] = 8081

    result = run_variant(tmp_path, checkout_target, "production")
    assert result.ok, result.errors
    twin = find(result, "prod-euw1", "Service", "checkout-meshbridge-local", "shop")
    assert twin["spec"]["ports"][0]["targetPort"] == 8081
    se = find(result, "prod-euw1", "ServiceEntry", "checkout.shop.mesh", "istio-system")
    assert se["spec"]["endpoints"][-1]["ports"] == {"http": 8081, "grpc": 9090}
    assert [r.line() for r in check_paths(result) if not r.ok] == []
    raw = raw_config()
    raw["services"][2]["ports"][0]["targetPort"] = 0
    assert any(p.startswith("meshbridge:services[2].ports[0].targetPort") for p in parse_problems(raw))


# ------------------------------------------------------------------------------------- item 9


def test_item9_synth_shows_secret_keys_with_redacted_values(tmp_path: Path) -> None:
    fake = TlsFake()
    result = run_variant(tmp_path, lambda cfg: cfg["meshbridge:ca"].update(keyAlgorithm="ECDSA"), fakes=[fake])
    assert result.ok, result.errors
    out = tmp_path / "out"
    write_tree(result, out)
    keys = {
        "ca-cert.pem": "[secret]",
        "ca-key.pem": "[secret]",
        "cert-chain.pem": "[secret]",
        "root-cert.pem": "[secret]",
    }
    for cluster in ("cluster-a", "cluster-b"):
        obj = yaml.safe_load((out / "clusters" / cluster / "secret.istio-system.cacerts.yaml").read_text())
        assert obj["stringData"] == keys
    entries = [e for e in json.loads((out / "resources.json").read_text()) if e["type"] == "kubernetes:core/v1:Secret"]
    assert entries and all(e["inputs"]["stringData"] == keys for e in entries)
    cacerts = next(r for r in result.registrations if r.type == "kubernetes:core/v1:Secret")
    assert k8s_object(cacerts)["stringData"] == keys
    # still no secret value anywhere in the output: not the real key material the fake made
    secrets = [
        str(unwrap(value[1]["privateKeyPem"]))
        for value in fake.state.values()
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict) and "privateKeyPem" in value[1]
    ]
    assert len(secrets) == 3  # the root and two intermediates
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    for pem in secrets:
        for line in pem.splitlines()[1:-1]:
            assert line not in text
