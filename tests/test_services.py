"""Cross-cluster services: exports, imports, authorization, failover, distribution."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from components.services import (
    ImportedHost,
    RemoteEndpoint,
    ServiceImportArgs,
    ServicePort,
    traffic_policy,
)
from synth.check import authorization_verdict
from synth.engine import Registration, SynthResult, run_program, unwrap
from synth.render import is_k8s_object, k8s_object
from tests.conftest import cluster_objects, of_type, provider_cluster, require_shared, run_variant, stack_config
from tests.validators import ISTIO_CRDS, validate_object

TD = "cluster.local"
SE = "kubernetes:networking.istio.io/v1:ServiceEntry"
DR = "kubernetes:networking.istio.io/v1:DestinationRule"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
OWN_TYPES = (
    "meshbridge:services:ServiceExport",
    "meshbridge:services:ServiceImport",
    "meshbridge:distribution:Distribution",
)


def find(result: SynthResult, cluster: str, kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
    for obj in cluster_objects(result, cluster):
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} in {cluster}")


def kinds(result: SynthResult, cluster: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in cluster_objects(result, cluster) if o["kind"] == kind]


def gateway_address(result: SynthResult, consumer: str, producer: str) -> str:
    return unwrap(result.outputs)["clusters"][consumer]["gatewayAddresses"][producer]


def owned_objects(result: SynthResult) -> list[tuple[Registration, dict[str, Any]]]:
    """The Kubernetes objects created by this issue's components."""
    owners = {r.urn for r in result.registrations if r.type in OWN_TYPES}
    return [(r, k8s_object(r)) for r in result.registrations if is_k8s_object(r) and r.parent in owners]


# ------------------------------------------------------------------------------ staging


def test_backend_api_alias_import_overrides_the_sni(staging: SynthResult) -> None:
    se = find(staging, "cluster-a", "ServiceEntry", "backend-api.cluster-b.local", "istio-system")
    spec = se["spec"]
    assert spec["hosts"] == ["backend-api.cluster-b.local"]
    assert spec["location"] == "MESH_INTERNAL"
    assert spec["resolution"] == "DNS"
    assert spec["ports"] == [{"name": "http", "number": 8080, "protocol": "HTTP"}]
    assert spec["subjectAltNames"] == ["spiffe://cluster.local/ns/default/sa/backend-api"]
    assert spec["endpoints"] == [
        {
            "address": gateway_address(staging, "cluster-a", "cluster-b"),
            "labels": {"security.istio.io/tlsMode": "istio"},
            "locality": "us-west-2/us-west-2a",
            "network": "network-b",
            "ports": {"http": 15443},
        }
    ]
    # the consumer reaches the interface endpoint in its own VPC, never the producer NLB directly
    assert "cluster-a-to-cluster-b" in spec["endpoints"][0]["address"]

    dr = find(staging, "cluster-a", "DestinationRule", "backend-api.cluster-b.local", "istio-system")
    assert dr["spec"]["host"] == "backend-api.cluster-b.local"
    assert dr["spec"]["trafficPolicy"] == {
        "loadBalancer": {"simple": "LEAST_REQUEST"},  # the user's trafficPolicy, merged
        "tls": {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8080_._.backend-api.default.svc.cluster.local"},
    }


def test_backend_api_authorization_keeps_methods_for_the_declared_caller(staging: SynthResult) -> None:
    policy = find(staging, "cluster-b", "AuthorizationPolicy", "meshbridge-export-backend-api", "default")
    spec = policy["spec"]
    assert spec["action"] == "ALLOW"
    assert spec["selector"] == {"matchLabels": {"app": "backend-api"}}
    assert spec["rules"] == [
        {
            "from": [{"source": {"principals": ["cluster.local/ns/default/sa/frontend"]}}],
            "to": [{"operation": {"methods": ["GET", "POST"]}}],
        },
        # staging declares localCallers: {namespaces: [], principals: []}: no local rule
    ]
    # nothing of backend-api on the consumer-only side, nothing imported on the producer side
    assert not [p for p in kinds(staging, "cluster-a", "AuthorizationPolicy") if "backend-api" in p["metadata"]["name"]]
    assert not [s for s in kinds(staging, "cluster-b", "ServiceEntry") if "backend-api" in s["metadata"]["name"]]


def test_callers_inside_the_producer_cluster(staging: SynthResult) -> None:
    """The decision (docs/services.md, Authorization): local callers are declared (`localCallers`,
    default: the service's namespace); the declared principals get exactly their methods."""
    policies = [k8s_object(r) for r in of_type(staging, AUTHZ)]

    def verdict(
        principal: str, ns: str = "default", labels: Optional[dict[str, str]] = None
    ) -> Optional[tuple[str, str]]:
        labels = labels or {"app": "backend-api"}
        cluster = "cluster-a" if ns != "default" else "cluster-b"
        return authorization_verdict(policies, cluster, ns, labels, principal, 8080, True)

    assert verdict(f"{TD}/ns/default/sa/frontend") is None
    # backend-api declares no local caller: nothing else of `default` is admitted
    assert verdict(f"{TD}/ns/default/sa/anything-local") is not None
    denied = verdict(f"{TD}/ns/web/sa/frontend")
    assert denied is not None and "meshbridge-export-backend-api" in denied[0]
    # hello keeps the default: every workload of its namespace `demo`
    assert verdict(f"{TD}/ns/demo/sa/anything-local", "demo", {"app": "hello"}) is None
    assert verdict(f"{TD}/ns/web/sa/anything", "demo", {"app": "hello"}) is not None


def test_hello_statefulset_per_pod_services_and_aliases(staging: SynthResult) -> None:
    for i in range(3):
        svc = find(staging, "cluster-a", "Service", f"hello-{i}", "demo")
        assert svc["apiVersion"] == "v1"
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": f"hello-{i}"}
        assert svc["spec"]["ports"] == [
            {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}
        ]
        alias = f"src-hello-{i}.demo.svc.cluster.local"
        se = find(staging, "cluster-b", "ServiceEntry", alias, "istio-system")
        assert se["spec"]["hosts"] == [alias]
        assert se["spec"]["endpoints"][0]["address"] == gateway_address(staging, "cluster-b", "cluster-a")
        assert se["spec"]["endpoints"][0]["ports"] == {"http": 15443}
        assert se["spec"]["subjectAltNames"] == ["spiffe://cluster.local/ns/demo/sa/hello"]
        dr = find(staging, "cluster-b", "DestinationRule", alias, "istio-system")
        assert dr["spec"]["trafficPolicy"]["tls"] == {
            "mode": "ISTIO_MUTUAL",
            "sni": f"outbound_.8080_._.hello-{i}.demo.svc.cluster.local",
        }
    assert not [s for s in kinds(staging, "cluster-a", "Service") if s["metadata"]["name"] == "hello-3"]
    # the service host itself is imported only under its alias, with the SNI override
    dr = find(staging, "cluster-b", "DestinationRule", "hello.cluster-a.local", "istio-system")
    assert dr["spec"]["trafficPolicy"] == {
        "tls": {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8080_._.hello.demo.svc.cluster.local"}
    }
    # the producer's gateway passes the per-pod hosts through
    gateway = find(staging, "cluster-a", "Gateway", "cross-network-gateway", "istio-system")
    hosts = gateway["spec"]["servers"][0]["hosts"]
    assert {f"hello-{i}.demo.svc.cluster.local" for i in range(3)} <= set(hosts)


def test_db_pxc_tcp_replication_per_pod(staging: SynthResult) -> None:
    for i in range(3):
        svc = find(staging, "cluster-a", "Service", f"db-pxc-{i}", "pxc")
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": f"db-pxc-{i}"}
        assert svc["spec"]["ports"] == [
            {"name": "mysql", "port": 3306, "targetPort": 3306, "protocol": "TCP", "appProtocol": "tcp"}
        ]
        alias = f"src-db-pxc-{i}.pxc.svc.cluster.local"
        se = find(staging, "cluster-b", "ServiceEntry", alias, "istio-system")
        assert se["spec"]["ports"] == [{"name": "mysql", "number": 3306, "protocol": "TCP"}]
        assert se["spec"]["endpoints"][0]["ports"] == {"mysql": 15443}
        assert se["spec"]["subjectAltNames"] == ["spiffe://cluster.local/ns/pxc/sa/db-pxc"]
        dr = find(staging, "cluster-b", "DestinationRule", alias, "istio-system")
        assert dr["spec"]["trafficPolicy"]["tls"]["sni"] == f"outbound_.3306_._.db-pxc-{i}.pxc.svc.cluster.local"
    policy = find(staging, "cluster-a", "AuthorizationPolicy", "meshbridge-export-db-pxc", "pxc")
    assert policy["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/instance": "db-pxc"}}
    # TCP: authorization by principal only, no HTTP operation in any rule
    assert all("to" not in rule for rule in policy["spec"]["rules"])
    assert policy["spec"]["rules"][0] == {"from": [{"source": {"principals": ["cluster.local/ns/pxc/sa/db-pxc"]}}]}


def test_components_tree_providers_and_names(staging: SynthResult) -> None:
    clusters = {r.name: r.urn for r in of_type(staging, "meshbridge:cluster:MeshCluster")}
    exports = {r.name: r for r in of_type(staging, "meshbridge:services:ServiceExport")}
    imports = {r.name: r for r in of_type(staging, "meshbridge:services:ServiceImport")}
    # names include the namespace; the old names are aliases
    assert set(exports) == {
        "cluster-b-export-default-backend-api",
        "cluster-a-export-demo-hello",
        "cluster-a-export-pxc-db-pxc",
    }
    assert set(imports) == {
        "cluster-a-import-default-backend-api",
        "cluster-b-import-demo-hello",
        "cluster-b-import-pxc-db-pxc",
    }
    for name, reg in {**exports, **imports}.items():
        cluster = name.split("-export-")[0].split("-import-")[0]
        assert reg.parent == clusters[cluster], name
        children = [r for r in staging.registrations if r.parent == reg.urn]
        assert children, name
        for child in children:
            assert provider_cluster(staging, child) == cluster, child.name
            assert child.name.startswith(f"{cluster}-"), child.name
            assert child.inputs["metadata"]["name"]
    names = {r.name for r in of_type(staging, SE)}
    assert "cluster-a-se-backend-api.cluster-b.local" in names
    assert "cluster-b-se-src-db-pxc-2.pxc.svc.cluster.local" in names
    # every Istio object waits for istiod of its own cluster (CRDs + validation webhook)
    istiod = {provider_cluster(staging, r): r.urn for r in staging.registrations if r.name.endswith("-istiod")}
    for reg in of_type(staging, SE) + of_type(staging, DR) + of_type(staging, AUTHZ):
        if any(reg.parent == r.urn for r in exports.values()) or any(reg.parent == r.urn for r in imports.values()):
            assert istiod[provider_cluster(staging, reg)] in reg.dependencies, reg.name


def test_outputs_exported_and_imported_hosts(staging: SynthResult) -> None:
    clusters = unwrap(staging.outputs)["clusters"]
    assert clusters["cluster-b"]["exportedHosts"] == ["backend-api.default.svc.cluster.local"]
    assert clusters["cluster-a"]["importedHosts"] == {"backend-api.cluster-b.local": ["cluster-b"]}
    imported = clusters["cluster-b"]["importedHosts"]
    assert imported["src-db-pxc-0.pxc.svc.cluster.local"] == ["cluster-a"]
    assert len(imported) == 7  # hello.cluster-a.local, 3 + 3 per-pod aliases
    assert "hello-2.demo.svc.cluster.local" in clusters["cluster-a"]["exportedHosts"]


# ------------------------------------------------------------------------------ distribution


def test_distribution_follows_the_cluster_selector(staging: SynthResult) -> None:
    # api-routing: mesh=enabled AND integration=istio -> cluster-a only
    vs = find(staging, "cluster-a", "VirtualService", "backend-api-timeouts", "istio-system")
    assert vs["spec"]["hosts"] == ["backend-api.cluster-b.local"]
    assert not kinds(staging, "cluster-b", "VirtualService")
    # sidecar-defaults (file): mesh=enabled -> both
    for cluster in ("cluster-a", "cluster-b"):
        sidecar = find(staging, cluster, "Sidecar", "default", "istio-system")
        assert sidecar["spec"]["egress"] == [{"hosts": ["*/*"]}]  # every namespace stays reachable
    dists = {r.name: r for r in of_type(staging, "meshbridge:distribution:Distribution")}
    assert set(dists) == {"distribute-api-routing", "distribute-mesh-sidecar-defaults"}
    for child in [r for r in staging.registrations if r.parent == dists["distribute-mesh-sidecar-defaults"].urn]:
        assert child.type == "kubernetes:networking.istio.io/v1:Sidecar"
        assert child.name.startswith(f"{provider_cluster(staging, child)}-mesh-sidecar-defaults-")


def test_distribution_keeps_every_field_of_any_kind(tmp_path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["meshbridge:distribute"].append(
            {
                "name": "team-config",
                "clusterSelector": {"mesh": "enabled"},
                "manifests": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "mesh-info", "namespace": "istio-system"},
                        "data": {"mesh": "staging"},
                    },
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "Role",
                        "metadata": {"name": "mesh-reader", "namespace": "istio-system"},
                        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
                    },
                ],
            }
        )

    result = run_variant(tmp_path, mutate)
    assert result.ok, result.errors
    for cluster in ("cluster-a", "cluster-b"):
        cm = find(result, cluster, "ConfigMap", "mesh-info", "istio-system")
        assert cm["data"] == {"mesh": "staging"}
        role = find(result, cluster, "Role", "mesh-reader", "istio-system")
        assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    types = {r.type for r in result.registrations if r.name.endswith("-team-config-configmap-istio-system-mesh-info")}
    assert types == {"kubernetes:core/v1:ConfigMap"}  # the same token as the typed class


# ------------------------------------------------------------------------------ production


def checkout_host() -> str:
    """The consumer-side host of production's checkout (its alias, if the stack file sets one)."""
    spec = _service(stack_config("production")["config"], "checkout")
    return spec.get("alias") or "checkout.shop.svc.cluster.local"


def test_checkout_failover_across_three_regions(production: SynthResult) -> None:
    clusters = {"prod-use1": ("us-east-1/us-east-1a", "net-use1"), "prod-usw2": ("us-west-2/us-west-2b", "net-usw2"),
                "prod-euw1": ("eu-west-1/eu-west-1a", "net-euw1")}  # fmt: skip
    host = checkout_host()
    for consumer, (own_locality, own_network) in clusters.items():
        se = find(production, consumer, "ServiceEntry", host, "istio-system")
        assert se["spec"]["hosts"] == [host]
        endpoints = se["spec"]["endpoints"]
        remote = [p for p in clusters if p != consumer]
        assert len(endpoints) == 3
        for ep, producer in zip(endpoints, remote, strict=False):
            assert ep["address"] == gateway_address(production, consumer, producer)
            assert ep["ports"] == {"http": 15443, "grpc": 15443}
            assert (ep["locality"], ep["network"]) == clusters[producer]
            # the producer label: what the host's subset for that producer selects
            assert ep["labels"] == {"security.istio.io/tlsMode": "istio", "meshbridge.io/producer": producer}
        local = endpoints[-1]  # the consumer runs checkout too: its headless twin
        assert local["address"] == "checkout-meshbridge-local.shop.svc.cluster.local"
        assert local["ports"] == {"http": 8080, "grpc": 9090}
        assert (local["locality"], local["network"]) == (own_locality, own_network)
        assert local["labels"]["meshbridge.io/producer"] == consumer
        subsets = find(production, consumer, "DestinationRule", host)["spec"]["subsets"]
        assert subsets == [{"name": c, "labels": {"meshbridge.io/producer": c}} for c in [*remote, consumer]]

        policy = find(production, consumer, "DestinationRule", host)["spec"]["trafficPolicy"]
        levels = [policy, *policy.get("portLevelSettings", [])]  # port-level entries repeat the policy
        for level in levels:
            assert level["outlierDetection"]["consecutive5xxErrors"] == 5
            assert level["loadBalancer"]["localityLbSetting"]["enabled"] is True
            assert "failoverPriority" not in level["loadBalancer"]["localityLbSetting"]  # istio/istio#61857
            assert level["connectionPool"] == {"tcp": {"maxConnections": 1000}}
            assert level["tls"]["mode"] == "ISTIO_MUTUAL"

        authz = find(production, consumer, "AuthorizationPolicy", "meshbridge-export-checkout", "shop")
        assert authz["spec"]["rules"][0] == {
            "from": [{"source": {"principals": [f"{TD}/ns/shop/sa/batch", f"{TD}/ns/shop/sa/frontend"]}}]
        }


def test_checkout_with_alias_overrides_the_sni_on_every_port(tmp_path) -> None:
    result = run_variant(tmp_path, lambda c: _service(c, "checkout").update(alias="checkout.shop.mesh"), "production")
    assert result.ok, result.errors
    dr = find(result, "prod-euw1", "DestinationRule", "checkout.shop.mesh", "istio-system")
    levels = dr["spec"]["trafficPolicy"]["portLevelSettings"]
    assert [(lv["port"]["number"], lv["tls"]["sni"]) for lv in levels] == [
        (8080, "outbound_.8080_._.checkout.shop.svc.cluster.local"),
        (9090, "outbound_.9090_._.checkout.shop.svc.cluster.local"),
    ]
    assert all(lv["outlierDetection"] and lv["loadBalancer"]["localityLbSetting"]["enabled"] for lv in levels)
    se = find(result, "prod-euw1", "ServiceEntry", "checkout.shop.mesh", "istio-system")
    assert se["spec"]["endpoints"][-1]["address"] == "checkout-meshbridge-local.shop.svc.cluster.local"


def test_ledger_alias_with_two_ports_sets_the_sni_per_port(production: SynthResult) -> None:
    for consumer in ("prod-usw2", "prod-euw1"):
        dr = find(production, consumer, "DestinationRule", "ledger.finance.mesh", "istio-system")
        policy = dr["spec"]["trafficPolicy"]
        assert policy["tls"] == {"mode": "ISTIO_MUTUAL"}
        assert policy["portLevelSettings"] == [
            {
                "port": {"number": 8443},
                "tls": {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8443_._.ledger.finance.svc.cluster.local"},
            },
            {
                "port": {"number": 8080},
                "tls": {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8080_._.ledger.finance.svc.cluster.local"},
            },
        ]
        se = find(production, consumer, "ServiceEntry", "ledger.finance.mesh", "istio-system")
        assert se["spec"]["subjectAltNames"] == ["spiffe://cluster.local/ns/finance/sa/ledger-api"]
    # prod-use1 is the only producer of ledger and does not consume it
    assert "ledger.finance.mesh" not in [s["metadata"]["name"] for s in kinds(production, "prod-use1", "ServiceEntry")]


def _args(**kw: Any) -> ServiceImportArgs:
    base: dict[str, Any] = {
        "cluster": "c",
        "service": "svc",
        "namespace": "ns",
        "service_account": "svc",
        "trust_domain": TD,
        "import_namespace": "istio-system",
        "ports": [ServicePort(8080, "http", "HTTP"), ServicePort(9090, "grpc", "GRPC")],
        "hosts": [ImportedHost("svc.example", "svc.ns.svc.cluster.local")],
        "remote": [RemoteEndpoint("p", "gw.example", "net-p", "r")],
        "provider": None,
    }
    base.update(kw)
    return ServiceImportArgs(**base)


def test_port_level_settings_repeat_the_policy_because_istio_does_not_inherit() -> None:
    user = {
        "connectionPool": {"tcp": {"maxConnections": 10}},
        "loadBalancer": {"simple": "LEAST_REQUEST"},
        "portLevelSettings": [{"port": {"number": 9090}, "loadBalancer": {"simple": "ROUND_ROBIN"}}],
    }
    args = _args(
        traffic_policy=user,
        remote=[RemoteEndpoint("p", "gw1", "n1", "r1"), RemoteEndpoint("q", "gw2", "n2", "r2")],
    )
    policy = traffic_policy(args, args.hosts[0])
    assert user["portLevelSettings"][0] == {"port": {"number": 9090}, "loadBalancer": {"simple": "ROUND_ROBIN"}}
    http, grpc = policy["portLevelSettings"]
    assert http["port"] == {"number": 8080}
    assert http["connectionPool"] == {"tcp": {"maxConnections": 10}}
    assert http["loadBalancer"] == {"simple": "LEAST_REQUEST", "localityLbSetting": {"enabled": True}}
    assert http["outlierDetection"] == policy["outlierDetection"]  # failover default filled in
    assert http["tls"] == {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8080_._.svc.ns.svc.cluster.local"}
    assert grpc["loadBalancer"] == {"simple": "ROUND_ROBIN"}  # the user's port-level value wins
    assert grpc["tls"]["sni"] == "outbound_.9090_._.svc.ns.svc.cluster.local"
    # without alias and without port-level settings: one top-level tls, no SNI
    plain = _args(hosts=[ImportedHost("svc.ns.svc.cluster.local", "svc.ns.svc.cluster.local")])
    assert traffic_policy(plain, plain.hosts[0]) == {"tls": {"mode": "ISTIO_MUTUAL"}}


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_object_validates_against_the_schemas(stack: str) -> None:
    require_shared(ISTIO_CRDS)
    result = run_program(stack)
    assert result.ok, result.errors
    owned = owned_objects(result)
    kinds_seen = {obj["kind"] for _, obj in owned}
    assert {"ServiceEntry", "DestinationRule", "AuthorizationPolicy", "Sidecar"} <= kinds_seen
    problems = [f"{reg.name}: {p}" for reg, obj in owned for p in validate_object(obj)]
    assert problems == []
    for _, obj in owned:  # CEL rules the schema validator does not evaluate
        if obj["kind"] == "ServiceEntry":
            assert "*" not in obj["spec"]["hosts"]
            for ep in obj["spec"]["endpoints"]:
                assert ep.get("address") and all(0 < p <= 65535 for p in ep["ports"].values())


def test_validation_is_able_to_fail(staging: SynthResult) -> None:
    require_shared(ISTIO_CRDS)
    se = find(staging, "cluster-a", "ServiceEntry", "backend-api.cluster-b.local")
    se["spec"]["endpoints"][0]["tlsMode"] = "istio"  # not a field
    assert validate_object(se)


# ------------------------------------------------------------------------------ bad input


def _service(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in config["meshbridge:services"] if s["name"] == name)


BAD_INPUTS = {
    "alias-collides": (
        lambda c: _service(c, "backend-api").update(alias="hello.demo.svc.cluster.local"),
        "meshbridge:services[0].alias:",
    ),
    "alias-collides-with-pod-alias": (
        lambda c: _service(c, "backend-api").update(alias="src-hello-1.demo.svc.cluster.local"),
        "meshbridge:services[1].perPod.aliasPrefix:",
    ),
    "per-pod-zero-replicas": (
        lambda c: _service(c, "hello")["perPod"].update(replicas=0),
        "meshbridge:services[1].perPod.replicas:",
    ),
    "methods-on-tcp": (
        lambda c: _service(c, "db-pxc")["consumers"][0].update(methods=["GET"]),
        "meshbridge:services[2].consumers[0].methods:",
    ),
    "consumer-is-the-only-producer": (
        lambda c: _service(c, "hello")["consumers"][0].update(cluster="cluster-a"),
        "meshbridge:services[1].consumers[0].cluster:",
    ),
    "principal-not-ns-sa": (
        lambda c: _service(c, "backend-api")["consumers"][0].update(principals=["frontend"]),
        "meshbridge:services[0].consumers[0].principals",
    ),
    "selector-matches-nothing": (
        lambda c: c["meshbridge:distribute"][0].update(clusterSelector={"mesh": "nowhere"}),
        "meshbridge:distribute[0].clusterSelector:",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_with_the_key_path(tmp_path, case: str) -> None:
    mutate, prefix = BAD_INPUTS[case]
    result = run_variant(tmp_path, mutate)
    assert result.registrations == []
    assert any(line.startswith(prefix) for line in result.errors), result.errors


def test_failover_without_outlier_detection_is_rejected(tmp_path) -> None:
    result = run_variant(
        tmp_path, lambda c: _service(c, "checkout")["trafficPolicy"].pop("outlierDetection"), stack="production"
    )
    assert result.registrations == []
    assert any(e.startswith("meshbridge:services[0].trafficPolicy.outlierDetection:") for e in result.errors)


def test_import_namespace_other_than_istio_system(tmp_path) -> None:
    result = run_variant(tmp_path, lambda c: c["meshbridge:mesh"].update(importNamespace="mesh-imports"))
    assert result.ok, result.errors
    for consumer in ("cluster-a", "cluster-b"):
        ns = find(result, consumer, "Namespace", "mesh-imports")
        assert ns["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "meshbridge"}
    se = find(result, "cluster-a", "ServiceEntry", "backend-api.cluster-b.local")
    dr = find(result, "cluster-a", "DestinationRule", "backend-api.cluster-b.local")
    assert se["metadata"]["namespace"] == dr["metadata"]["namespace"] == "mesh-imports"
    ns_urn = next(r.urn for r in result.registrations if r.name == "cluster-a-mesh-imports")
    reg = next(r for r in of_type(result, SE) if r.name == "cluster-a-se-backend-api.cluster-b.local")
    assert ns_urn in reg.dependencies
