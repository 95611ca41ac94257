"""Day two without outages (issue 26), on the real program through synth: what a consumer's imports
wait for (ready before published), what keeps an exported workload closed (no allow-all window),
which services multi-primary makes global (sameness), and rotations that create first.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.helm import CHART_TYPE, V4_CHART_TYPE, HelmChart, HelmChartArgs, chart_source, template_options
from components.services import (
    AllowedCaller,
    ServiceExportArgs,
    ServicePort,
    authorization_rules,
    baseline_policy_name,
)
from policy.rules import ADVISORY, RESOURCE_RULES, Res, intermediate_ca_expiry
from synth.engine import (
    HELM_TEMPLATE,
    Registration,
    SynthMocks,
    SynthResult,
    redact,
    run_component,
    run_program,
    unwrap,
)
from synth.render import helm_releases, summary
from tests.conftest import all_of, of_type, run_variant, set_at, stack_config

SE = "kubernetes:networking.istio.io/v1:ServiceEntry"
DR = "kubernetes:networking.istio.io/v1:DestinationRule"
GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
TGB = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
LISTENER = "aws:lb/listener:Listener"


def by_name(result: SynthResult, typ: str) -> dict[str, Registration]:
    return {r.name: r for r in of_type(result, typ)}


def urn(result: SynthResult, typ: str, name: str) -> str:
    found = by_name(result, typ)
    assert name in found, sorted(found)
    return found[name].urn


# ------------------------------------------------------------------- ready before published (item 5)


def producer_side(result: SynthResult, producer: str, namespace: str, service: str, aws: bool) -> set[str]:
    """The URNs of what a producer needs before a consumer is pointed at it."""
    side = {
        urn(result, GATEWAY, f"{producer}-cross-network-gateway"),
        urn(result, AUTHZ, f"{producer}-{namespace}-{service}-authz"),
    }
    if aws:
        side |= {urn(result, TGB, f"{producer}-eastwest-tgb"), urn(result, LISTENER, f"{producer}-eastwest-listener")}
    return side


@pytest.mark.parametrize(
    ("stack", "consumer", "host", "producer", "namespace", "service", "aws"),
    [
        ("staging", "cluster-a", "backend-api.cluster-b.local", "cluster-b", "default", "backend-api", True),
        ("staging", "cluster-b", "src-hello-0.demo.svc.cluster.local", "cluster-a", "demo", "hello", True),
        ("production", "prod-usw2", "ledger.finance.mesh", "prod-use1", "finance", "ledger", True),
        ("local", "cluster-a", "backend-api.cluster-b.local", "cluster-b", "default", "backend-api", False),
    ],
)
def test_an_import_waits_for_its_producers_binding_gateway_host_and_policy(
    stack: str, consumer: str, host: str, producer: str, namespace: str, service: str, aws: bool
) -> None:
    result = run_program(stack)
    assert result.ok, result.errors
    side = producer_side(result, producer, namespace, service, aws)
    for typ, kind in ((SE, "se"), (DR, "dr")):
        reg = by_name(result, typ)[f"{consumer}-{kind}-{host}"]
        assert side <= set(reg.dependencies), sorted(side - set(reg.dependencies))


def test_a_moved_export_is_published_only_once_the_new_producer_serves(tmp_path: Path) -> None:
    """Step one of a move (docs/runbook.md, "Moving an export"): ledger also exported from a new
    producer (with outlier detection); prod-usw2's host waits for the new producer's side as well as
    the old one's."""
    result = run_program("production")
    assert result.ok, result.errors
    # the failover host of checkout in prod-euw1: every remote producer's side
    reg = by_name(result, SE)["prod-euw1-se-checkout.shop.mesh"]
    for producer in ("prod-use1", "prod-usw2"):
        side = producer_side(result, producer, "shop", "checkout", True)
        assert side <= set(reg.dependencies), (producer, sorted(side - set(reg.dependencies)))
    moved = run_variant(
        tmp_path,
        all_of(
            set_at(["meshbridge:services", 1, "exportedFrom"], ["prod-use1", "prod-euw1"]),
            set_at(["meshbridge:services", 1, "trafficPolicy"], {"outlierDetection": {"consecutive5xxErrors": 5}}),
        ),
        stack="production",
    )
    assert moved.ok, moved.errors
    reg = by_name(moved, SE)["prod-usw2-se-ledger.finance.mesh"]
    for producer in ("prod-use1", "prod-euw1"):
        side = producer_side(moved, producer, "finance", "ledger", True)
        assert side <= set(reg.dependencies), (producer, sorted(side - set(reg.dependencies)))


# ------------------------------------------------------------------------ no allow-all window (item 4)


def baselines(result: SynthResult) -> dict[str, Registration]:
    return {name: r for name, r in by_name(result, AUTHZ).items() if "-meshbridge-baseline-" in name}


def test_every_exported_workload_has_an_allow_nothing_baseline_owned_apart_from_its_export(
    staging: SynthResult,
) -> None:
    found = baselines(staging)
    selector = {"app": "backend-api"}
    name = f"cluster-b-default-{baseline_policy_name(selector)}"
    assert name in found, sorted(found)
    base = found[name]
    spec = base.inputs["spec"]
    # an ALLOW policy without rules matches nothing: alone it denies everything (Istio's allow-nothing)
    assert spec == {"selector": {"matchLabels": selector}, "action": "ALLOW"}
    assert base.retain_on_delete  # a removed or renamed export leaves it in the cluster
    # apart from the export: parented to the cluster, not to the ServiceExport, and created first
    export = by_name(staging, "meshbridge:services:ServiceExport")["cluster-b-export-default-backend-api"]
    assert base.parent != export.urn
    allow = by_name(staging, AUTHZ)["cluster-b-default-backend-api-authz"]
    assert base.urn in allow.dependencies
    # one per (producer, namespace, selector): staging exports three workloads
    assert len(found) == 3


def test_a_renamed_export_keeps_the_baseline_of_its_workload(tmp_path: Path, staging: SynthResult) -> None:
    """Renaming backend-api (same pods, so the selector is given) creates a new ALLOW policy and deletes
    the old one last; the baseline keeps its URN, so the pods are never without a policy."""
    before = baselines(staging)
    renamed = run_variant(
        tmp_path,
        all_of(
            set_at(["meshbridge:services", 0, "name"], "backend"),
            set_at(["meshbridge:services", 0, "selector"], {"app": "backend-api"}),
        ),
    )
    assert renamed.ok, renamed.errors
    after = baselines(renamed)
    assert {r.urn for r in before.values()} == {r.urn for r in after.values()}
    allow = {r.urn for r in of_type(staging, AUTHZ)} - {r.urn for r in before.values()}
    allow_after = {r.urn for r in of_type(renamed, AUTHZ)} - {r.urn for r in after.values()}
    assert allow != allow_after  # the export's own policy is replaced by a new URN


def test_a_removed_export_or_relabelled_workload_leaves_its_baseline_in_the_cluster(
    tmp_path: Path, staging: SynthResult
) -> None:
    """Removing the export (or renaming it with new labels) drops the baseline's URN from the
    program: the engine deletes it, and retainOnDelete keeps the object, so pods that still carry
    the labels stay closed (the runbook says how to drop it)."""
    removed = run_variant(tmp_path, lambda cfg: cfg["meshbridge:services"].pop(0))
    assert removed.ok, removed.errors
    gone = set(baselines(staging)) - set(baselines(removed))
    assert gone == {f"cluster-b-default-{baseline_policy_name({'app': 'backend-api'})}"}
    assert all(baselines(staging)[name].retain_on_delete for name in gone)


def test_consumers_sharing_a_principal_with_other_methods_are_refused(tmp_path: Path) -> None:
    # production's checkout: prod-use1 and prod-usw2 both declare shop/frontend (same operations: fine)
    result = run_variant(
        tmp_path, set_at(["meshbridge:services", 0, "consumers", 1, "methods"], ["GET"]), stack="production"
    )
    assert not result.ok
    assert any(
        e.startswith(
            "meshbridge:services[0].consumers[1].principals[0]: shop/frontend is also a principal of "
            "consumers[0] (prod-use1) with other methods/paths"
        )
        for e in result.errors
    ), result.errors
    # the same operations in every entry are one promise: accepted (order does not matter)
    same = run_variant(
        tmp_path,
        all_of(
            *(
                set_at(["meshbridge:services", 0, "consumers", j, "methods"], methods)
                for j, methods in enumerate((["GET", "POST"], ["POST", "GET"], ["GET", "POST"]))
            ),
            # (restricted principals of shop: the default localCallers would widen them)
            set_at(["meshbridge:services", 0, "localCallers"], {"namespaces": [], "principals": []}),
        ),
        stack="production",
    )
    assert same.ok, same.errors


def test_the_export_component_refuses_a_principal_with_two_operations() -> None:
    args = ServiceExportArgs(
        cluster="p",
        service="svc",
        namespace="ns",
        trust_domain="cluster.local",
        workload_selector={"app": "svc"},
        ports=[ServicePort(8080, "http", "HTTP")],
        callers=[AllowedCaller(["a/b"], methods=["GET"]), AllowedCaller(["a/b"], methods=["GET", "POST"])],
        provider=None,  # type: ignore[arg-type]
        local_namespaces=[],
    )
    with pytest.raises(ValueError, match="a/b is declared twice with different methods/paths"):
        authorization_rules(args)


# ------------------------------------------------------------------------------------ sameness (item 8)


def istio_cluster_local(settings: list[dict[str, Any]], host: str) -> bool:
    """Istio's reading of meshConfig.serviceSettings (pilot/pkg/model/cluster_local.go): the most
    specific host wins (an exact host over a wildcard, a longer wildcard over a shorter one); a host no
    entry matches is global, kube-system's Services are cluster-local by default."""
    exact: dict[str, bool] = {}
    wild: dict[str, bool] = {"*.kube-system.svc.cluster.local": True}
    for entry in settings:
        for h in entry["hosts"]:
            (wild if h.startswith("*") else exact)[h] = bool(entry["settings"].get("clusterLocal"))
    if host in exact:
        return exact[host]
    matches = [w for w in wild if w == "*" or host.endswith(w[1:])]
    return wild[max(matches, key=len)] if matches else False


def test_multi_primary_makes_services_cluster_local_unless_exported(tmp_path: Path) -> None:
    result = run_program("discovery")
    assert result.ok, result.errors
    exported = ["ledger.finance.svc.cluster.local", "orders.shop.svc.cluster.local"]
    for cluster in ("disc-use1", "disc-usw2"):
        settings = unwrap(helm_releases(result)[cluster]["istiod.yaml"]["values"])["meshConfig"]["serviceSettings"]
        assert settings == [
            {"settings": {"clusterLocal": True}, "hosts": ["*.svc.cluster.local"]},
            {"settings": {"clusterLocal": False}, "hosts": exported},
        ]
        # the discovered service and the imported one are global; an undeclared Service of the same
        # name in a newly added cluster (namespace sameness) stays in its own cluster
        assert not istio_cluster_local(settings, "orders.shop.svc.cluster.local")
        assert istio_cluster_local(settings, "orders-admin.shop.svc.cluster.local")
        assert istio_cluster_local(settings, "web.shop.svc.cluster.local")
        # ServiceEntry aliases are not Kubernetes Services: untouched
        assert not istio_cluster_local(settings, "ledger.disc-use1.local")
    # the imports model and primary-remote keep Istio's default (no serviceSettings)
    for stack in ("staging", "primary-remote"):
        other = run_program(stack)
        assert other.ok, other.errors
        for files in helm_releases(other).values():
            values = unwrap(files["istiod.yaml"]["values"])
            assert "serviceSettings" not in values.get("meshConfig", {}), stack


# ------------------------------------------------------------------------ rotations create first (item 7)

SECRET = "kubernetes:core/v1:Secret"


def test_a_reader_token_rotation_creates_the_next_token_before_the_old_one_goes(tmp_path: Path) -> None:
    """`apiServer.tokenGeneration: 2` makes the next token a new Secret (new name, new URN): the engine
    creates it and updates the holder's remote secret from it, and deletes generation 1 only at the
    end of the `up` (a resource no longer registered); the old fixed-name `--replace` deleted first."""
    before = run_program("discovery")
    assert before.ok, before.errors
    secrets = by_name(before, SECRET)
    assert "disc-use1-istio-reader-token" in secrets  # generation 1 keeps its name: nothing rotates
    assert secrets["disc-use1-istio-reader-token"].inputs["metadata"]["name"] == "meshbridge-istio-reader-token"
    rotated = run_variant(
        tmp_path, set_at(["meshbridge:clusters", 0, "apiServer", "tokenGeneration"], 2), stack="discovery"
    )
    assert rotated.ok, rotated.errors
    secrets = by_name(rotated, SECRET)
    assert "disc-use1-istio-reader-token" not in secrets  # deleted last, after the creates and updates
    new = secrets["disc-use1-istio-reader-token-2"]
    assert new.inputs["metadata"]["name"] == "meshbridge-istio-reader-token-2"
    assert new.inputs["type"] == "kubernetes.io/service-account-token"
    holder = secrets["disc-usw2-remote-secret-disc-use1-secret"]
    assert new.urn in holder.dependencies  # the remote secret is written from the new token
    # the other cluster's token is untouched
    assert "disc-usw2-istio-reader-token" in secrets
    refused = run_variant(
        tmp_path, set_at(["meshbridge:clusters", 0, "apiServer", "tokenGeneration"], 0), stack="discovery"
    )
    assert any(e.startswith("meshbridge:clusters[0].apiServer.tokenGeneration") for e in refused.errors), refused.errors


def test_intermediate_expiry_is_in_the_outputs_and_synths_summary(staging: SynthResult) -> None:
    clusters = unwrap(staging.outputs["clusters"])
    for cluster in ("cluster-a", "cluster-b"):
        # the tls provider's validityEndTime of the cluster's LocallySignedCert (known after issue)
        assert clusters[cluster]["intermediateExpires"] == f"${{{cluster}-intermediate-ca-cert.validityEndTime}}"
    text = summary(staging, None)
    assert "  intermediate CAs (the outputs' clusters.<c>.intermediateExpires):" in text
    assert (
        "    cluster-a-intermediate-ca-cert: expires ${cluster-a-intermediate-ca-cert.validityEndTime} "
        "(valid 17520 h, re-issued by the first `pulumi up` within 720 h of it)"
    ) in text


def test_the_policy_pack_warns_of_an_intermediate_expiring_within_30_days() -> None:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)

    def cert(end: object) -> Res:
        return Res(
            type="tls:index/locallySignedCert:LocallySignedCert",
            name="cluster-a-intermediate-ca-cert",
            props={"validityEndTime": end},
        )

    soon = intermediate_ca_expiry(cert("2026-12-27T00:00:00Z"), now)
    assert soon == [
        "cluster-a-intermediate-ca-cert: the intermediate CA expires in 20 days (2026-12-27T00:00:00+00:00); the "
        "first `pulumi up` within meshbridge:ca.earlyRenewalHours of it re-issues it: run one (docs/runbook.md, "
        "'Intermediate renewal')"
    ]
    assert "expired" in intermediate_ca_expiry(cert("2026-12-01T00:00:00Z"), now)[0]
    assert intermediate_ca_expiry(cert("2027-02-01T00:00:00Z"), now) == []
    # not issued yet (synth's placeholder, a create in the preview): nothing to say
    assert intermediate_ca_expiry(cert("${cluster-a-intermediate-ca-cert.validityEndTime}"), now) == []
    assert intermediate_ca_expiry(cert(None), now) == []
    # a warning, not a failure: the preview goes on
    assert "intermediate-ca-expiry" in RESOURCE_RULES and "intermediate-ca-expiry" in ADVISORY


# ------------------------------------------------------------- replacements in order (item 3)

NLB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
ENDPOINT_SERVICE = "aws:ec2/vpcEndpointService:VpcEndpointService"


@pytest.mark.parametrize("change", ["subnet swap", "new VPC"])
def test_a_replaced_nlb_drops_its_listener_first_and_keeps_its_endpoint_service(
    staging: SynthResult, change: str
) -> None:
    """A subnet swap replaces the NLB (create before delete, the engine's default); a new VPC replaces
    the NLB and the target group. The listeners go with the NLB (their load balancer ARN forces a
    new one), and AWS refuses a listener that forwards to a target group another NLB's listener still
    uses (TargetGroupAssociationLimit): the old listener must be deleted before the new one. The
    engine's plan follows from what is checked here, the options and the dependencies (no plan is
    computed; that the endpoint service's NLB list updates in place is pulumi-aws', not shown here)."""
    nlbs, tgs, tgbs = by_name(staging, NLB), by_name(staging, TG), by_name(staging, TGB)
    listeners, services = by_name(staging, LISTENER), by_name(staging, ENDPOINT_SERVICE)
    for producer in ("cluster-a", "cluster-b"):
        nlb, tg = nlbs[f"{producer}-eastwest-nlb"], tgs[f"{producer}-eastwest-tg"]
        tgb, listener = tgbs[f"{producer}-eastwest-tgb"], listeners[f"{producer}-eastwest-listener"]
        service = services[f"{producer}-eastwest-endpoint-service"]
        replaced = {nlb.urn} if change == "subnet swap" else {nlb.urn, tg.urn}
        # the listener is replaced with the NLB, the old one deleted first
        assert nlb.urn in listener.dependencies and listener.delete_before_replace
        # a subnet swap leaves the target group (and so the binding) alone: it does not depend on the NLB
        assert nlb.urn not in tg.dependencies and nlb.urn not in tgb.dependencies
        if tg.urn in replaced:
            # a new group gets its new binding (old one deleted first) before the listener forwards to it
            assert tgb.delete_before_replace and tgb.urn in listener.dependencies
        # the endpoint service is updated to the new NLB, not replaced: its name, and the consumers'
        # endpoints with it, stay
        assert nlb.urn in service.dependencies
        assert not service.replace_on_changes and not service.delete_before_replace
        # and nothing else of the gateway replaces or updates it: no dependency on group, binding or listener
        assert not {tg.urn, tgb.urn, listener.urn} & set(service.dependencies)


# ------------------------------------------------------------------- risky changes gated (item 6)

OWN = "organization/meshbridge/staging"  # this stack, as its own outputs are read (stacks/migration.py)


def _deployed(network_a: str = "network-a", model: str | None = None) -> dict[str, Any]:
    """The outputs of the last deployment, as far as the gate reads them."""
    mesh: dict[str, Any] = {"id": "mesh-staging", **({"model": model} if model else {})}
    clusters = {"cluster-a": {"network": network_a}, "cluster-b": {"network": "network-b"}}
    return {OWN: {"mesh": mesh, "clusters": clusters}}


def _network_of_a(name: str) -> Any:
    return set_at(["meshbridge:clusters", 0, "network"], name)


def test_a_network_rename_is_refused_without_its_migration_flag(tmp_path: Path, staging: SynthResult) -> None:
    assert staging.ok  # no previous outputs (a first `up`): nothing to compare
    renamed = run_variant(tmp_path, _network_of_a("network-x"), stack_outputs=_deployed())
    assert not renamed.ok
    assert any(
        e.startswith("meshbridge:clusters[0].network: renaming cluster-a's network from network-a to network-x")
        and "meshbridge:mesh.migration.networks.cluster-a: network-a" in e
        for e in renamed.errors
    ), renamed.errors
    assert not renamed.registrations  # refused before any resource


def test_a_network_rename_with_its_flag_goes_through_and_a_stale_flag_allows_nothing_else(tmp_path: Path) -> None:
    def acknowledged(cfg: dict[str, Any]) -> None:
        _network_of_a("network-x")(cfg)
        cfg["meshbridge:mesh"]["migration"] = {"networks": {"cluster-a": "network-a"}}

    assert run_variant(tmp_path, acknowledged, stack_outputs=_deployed()).ok
    # the flag left behind after that `up` does not allow the next rename
    again = run_variant(tmp_path, acknowledged, stack_outputs=_deployed(network_a="network-y"))
    assert not again.ok and any("from network-y to network-x" in e for e in again.errors), again.errors


def test_a_model_switch_is_refused_without_its_migration_flag(tmp_path: Path) -> None:
    # the outputs name a discovery model; a stack that was multi-primary and is now `imports`
    refused = run_variant(tmp_path, lambda cfg: None, stack_outputs=_deployed(model="multi-primary"))
    assert not refused.ok
    assert any(e.startswith("meshbridge:mesh.model: switching from multi-primary to imports") for e in refused.errors)

    def acknowledged(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["migration"] = {"fromModel": "multi-primary"}

    assert run_variant(tmp_path, acknowledged, stack_outputs=_deployed(model="multi-primary")).ok


def _with_revision(revision: str | None) -> dict[str, Any]:
    """Deployed outputs whose clusters ran Istio `revision` (None: no revision)."""
    outputs = _deployed()
    for cluster in outputs[OWN]["clusters"].values():
        cluster["istio"] = {"version": "1.30.3", "revision": revision}
    return outputs


def test_a_revision_change_is_refused_without_its_migration_flag(tmp_path: Path) -> None:
    """Until canary upgrades exist, a revision change deletes the old istiod in the same `up` on
    every cluster: refused with its key path unless acknowledged with the revision it leaves."""
    staging_revision = stack_config("staging")["config"]["meshbridge:mesh"].get("istio", {}).get("revision")
    assert run_variant(tmp_path, lambda cfg: None, stack_outputs=_with_revision(staging_revision)).ok
    refused = run_variant(tmp_path, lambda cfg: None, stack_outputs=_with_revision("1-29-0"))
    assert not refused.ok and not refused.registrations
    now = staging_revision or "default"
    assert any(
        e.startswith(f"meshbridge:mesh.istio.revision: changing the Istio revision from 1-29-0 to {now}")
        and "meshbridge:mesh.migration.fromRevision: 1-29-0" in e
        for e in refused.errors
    ), refused.errors

    def acknowledged(cfg: dict[str, Any]) -> None:
        cfg["meshbridge:mesh"]["migration"] = {"fromRevision": "1-29-0"}

    assert run_variant(tmp_path, acknowledged, stack_outputs=_with_revision("1-29-0")).ok
    # outputs of a stack deployed before revisions were output: nothing to compare
    assert run_variant(tmp_path, lambda cfg: None, stack_outputs=_deployed()).ok


# ------------------------------------------------------- a cluster that is down (item 1)

CHART_OBJECTS = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "istiod", "namespace": "istio-system"}},
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.networking.istio.io"},
        "spec": {"group": "networking.istio.io"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "istio-reader-token", "namespace": "istio-system"},
        "data": {"token": "c2VjcmV0"},
    },
]


class RenderingMocks(SynthMocks):
    """The mock engine, answering the chart render with given objects (as the provider would)."""

    def __init__(self, objects: list[dict[str, Any]]):
        super().__init__(None, {}, [])
        self.objects = objects
        self.renders: list[dict[str, Any]] = []

    def call(self, args: Any) -> Any:
        if args.token == HELM_TEMPLATE:
            self.renders.append(json.loads(args.args["jsonOpts"]))
            return {"result": copy.deepcopy(self.objects)}, []
        return super().call(args)


def test_charts_are_the_programs_own_resources_with_the_v4_charts_urns() -> None:
    """A `helm.v4.Chart` is built by the provider's Construct, which refuses a cluster it cannot
    reach and stops every cluster's `up`. The chart is rendered client-side instead and each object
    registered by the program (so `skipUpdateUnreachable` covers it), with the v4 Chart's names and an
    alias of its type (a deployed stack keeps its URNs), CRDs first, Secret data secret, and a
    dependent that waits for `ready` waits for every object."""
    mocks = RenderingMocks(CHART_OBJECTS)

    def build() -> None:
        provider = k8s.Provider("c-k8s")
        chart = HelmChart(
            "c-istiod",
            HelmChartArgs(
                release="istiod",
                namespace="istio-system",
                chart="istiod",
                repository="https://charts.example",
                version="1.30.3",
                values={"global": {"network": "n"}},
                provider=provider,
            ),
        )
        k8s.core.v1.ConfigMap("after", opts=pulumi.ResourceOptions(provider=provider, depends_on=[chart.ready]))

    result = run_component(build, mocks=mocks)
    assert mocks.renders == [
        {
            "release_name": "istiod",
            "namespace": "istio-system",
            "version": "1.30.3",
            "values": {"global": {"network": "n"}},
            "chart": "istiod",
            "fetch_opts": {"repo": "https://charts.example", "version": "1.30.3"},
        }
    ]
    chart = by_name(result, CHART_TYPE)["c-istiod"]
    assert not chart.remote and chart.aliases == [f"type:{V4_CHART_TYPE}"]
    objects = {r.name: r for r in result.registrations if r.parent == chart.urn}
    assert sorted(objects) == [
        "c-istiod:gateways.networking.istio.io",
        "c-istiod:istio-system/istio-reader-token",
        "c-istiod:istio-system/istiod",
    ]
    crd = objects["c-istiod:gateways.networking.istio.io"]
    assert crd.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
    for name in ("c-istiod:istio-system/istiod", "c-istiod:istio-system/istio-reader-token"):
        assert objects[name].dependencies == [crd.urn], name
        assert objects[name].provider.endswith("::c-k8s")
    assert objects["c-istiod:istio-system/istiod"].type == "kubernetes:core/v1:ServiceAccount"
    assert redact(objects["c-istiod:istio-system/istio-reader-token"].inputs)["data"] == "[secret]"
    after = by_name(result, "kubernetes:core/v1:ConfigMap")["after"]
    assert set(after.dependencies) == {r.urn for r in objects.values()}


def test_a_local_chart_folder_and_an_oci_registry_render_without_a_repository() -> None:
    provider_args = {"release": "r", "namespace": "ns", "version": "1.0.0", "values": {}}
    local = HelmChartArgs(chart="/charts/base", provider=None, **provider_args)  # type: ignore[arg-type]
    oci = HelmChartArgs(chart="oci://registry.example/istio/base", provider=None, **provider_args)  # type: ignore[arg-type]
    assert chart_source("/charts", "base") == ("/charts/base", None)
    assert chart_source("oci://registry.example/istio/", "base") == ("oci://registry.example/istio/base", None)
    assert chart_source("https://charts.example", "base") == ("base", "https://charts.example")
    assert template_options(local, {})["path"] == "/charts/base" and "chart" not in template_options(local, {})
    assert template_options(oci, {})["chart"] == "oci://registry.example/istio/base"
    assert "fetch_opts" not in template_options(oci, {})


# ------------------------------------------------------- Istio upgrades, one cluster first (item 2)


def test_a_cluster_pinned_to_the_next_version_upgrades_alone(tmp_path: Path) -> None:
    """`clusters[i].istio.version`: that cluster's base, istiod and gateway charts move to the pinned
    version in place while the others stay on the mesh's; the outputs say which runs where."""
    pinned = run_variant(tmp_path, set_at(["meshbridge:clusters", 0, "istio"], {"version": "1.31.0"}))
    assert pinned.ok, pinned.errors
    versions = {
        (cluster, release): chart["version"]
        for cluster, releases in helm_releases(pinned).items()
        for release, chart in releases.items()
    }
    assert versions == {
        ("cluster-a", "istio-base.yaml"): "1.31.0",
        ("cluster-a", "istiod.yaml"): "1.31.0",
        ("cluster-a", "istio-eastwestgateway.yaml"): "1.31.0",
        ("cluster-b", "istio-base.yaml"): "1.30.3",
        ("cluster-b", "istiod.yaml"): "1.30.3",
        ("cluster-b", "istio-eastwestgateway.yaml"): "1.30.3",
    }
    clusters = pinned.outputs["clusters"]
    assert (clusters["cluster-a"]["istio"]["version"], clusters["cluster-b"]["istio"]["version"]) == (
        "1.31.0",
        "1.30.3",
    )
    # a rollback pin (one minor back) is as good
    assert run_variant(tmp_path, set_at(["meshbridge:clusters", 1, "istio"], {"version": "1.29.2"})).ok


@pytest.mark.parametrize("version", ["1.32.0", "1.28.9", "2.30.3"])
def test_a_pin_more_than_one_minor_version_away_is_refused(tmp_path: Path, version: str) -> None:
    refused = run_variant(tmp_path, set_at(["meshbridge:clusters", 1, "istio"], {"version": version}))
    assert not refused.ok and not refused.registrations
    assert any(
        e.startswith(f"meshbridge:clusters[1].istio.version: {version} is more than one minor version from")
        for e in refused.errors
    ), refused.errors


# ------------------------------------------------------- canary upgrades: revisions side by side (item 2)

NEW = {"name": "1-31-0", "version": "1.31.0"}
UNREV = {"name": "default", "version": "1.30.3"}


def _revisions(*revisions: dict[str, str], **istio: Any) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        repo = cfg["meshbridge:mesh"]["istio"]["repository"]
        cfg["meshbridge:mesh"]["istio"] = {"repository": repo, "revisions": list(revisions), **istio}

    return mutate


def _ran(installed: list[dict[str, str]], default: str, gateway: str) -> dict[str, Any]:
    """Deployed outputs of a canary-mode stack: each cluster's revisions, default tag and gateway."""
    outputs = _deployed()
    for cluster in outputs[OWN]["clusters"].values():
        cluster["istio"] = {
            "version": "1.30.3",
            "revision": None if default == "default" else default,
            "revisions": installed,
            "defaultRevision": default,
            "gatewayRevision": gateway,
        }
    return outputs


def test_revisions_run_side_by_side_with_the_revision_in_the_urn_and_the_tag_of_their_own(tmp_path: Path) -> None:
    installed = run_variant(tmp_path, _revisions(UNREV, NEW))
    assert installed.ok, installed.errors
    charts = by_name(installed, CHART_TYPE)
    # the unrevisioned istiod keeps its URN; the canary's name carries its revision; no tag yet (the
    # unrevisioned istiod's own injector serves the default); the gateway stays on the oldest
    assert {"cluster-a-istiod", "cluster-a-istiod-1-31-0"} <= set(charts)
    assert "cluster-a-istio-revision-tag-default" not in charts
    releases = helm_releases(installed)["cluster-a"]
    assert releases["istiod-1-31-0.yaml"]["values"]["revision"] == "1-31-0"
    assert releases["istiod-1-31-0.yaml"]["version"] == "1.31.0"
    assert releases["istio-base.yaml"]["version"] == "1.31.0"  # CRDs first: the newest's
    assert "revision" not in releases["istio-eastwestgateway.yaml"]["values"]

    moved = run_variant(tmp_path, _revisions(UNREV, NEW, defaultRevision="1-31-0", gatewayRevision="1-31-0"))
    assert moved.ok, moved.errors
    charts = by_name(moved, CHART_TYPE)
    tag = charts["cluster-a-istio-revision-tag-default"]
    assert tag.inputs["only"] == [
        "MutatingWebhookConfiguration/istio-revision-tag-default",
        "Service/istiod-revision-tag-default",
    ]
    assert redact(tag.inputs["values"])["revisionTags"] == ["default"]
    assert redact(tag.inputs["values"])["revision"] == "1-31-0"
    # the unrevisioned injector leaves while the tag is elsewhere (both would inject the same pods)
    assert charts["cluster-a-istiod"].inputs["omit"] == ["MutatingWebhookConfiguration/istio-sidecar-injector"]
    releases = helm_releases(moved)["cluster-a"]
    assert releases["istio-base.yaml"]["values"]["defaultRevision"] == "1-31-0"
    assert releases["istio-eastwestgateway.yaml"]["values"]["revision"] == "1-31-0"
    assert charts["cluster-a-istiod-1-31-0"].urn in releases["istio-eastwestgateway.yaml"]["dependsOn"]


def test_a_single_revisioned_control_plane_gets_its_revision_in_the_urn_and_keeps_its_objects(tmp_path: Path) -> None:
    """A revisioned istiod is `<c>-istiod-<revision>` in both modes; the single mode's alias keeps
    what was deployed as `<c>-istiod`, and canary mode (no alias: two istiods could claim it) is
    entered only after an `up` that made the rename."""
    single = run_variant(tmp_path, set_at(["meshbridge:mesh", "istio", "revision"], "1-30-3"))
    assert single.ok, single.errors
    charts = by_name(single, CHART_TYPE)
    assert charts["cluster-a-istiod-1-30-3"].aliases == [
        "cluster-a-istiod",
        f"cluster-a-istiod (type:{V4_CHART_TYPE})",
        f"type:{V4_CHART_TYPE}",
    ]
    istio = single.outputs["clusters"]["cluster-a"]["istio"]
    assert istio["revisions"] == [{"name": "1-30-3", "version": "1.30.3"}] and istio["defaultRevision"] == "1-30-3"
    canary = _revisions({"name": "1-30-3", "version": "1.30.3"}, NEW)
    result = run_variant(
        tmp_path, canary, stack_outputs=_ran([{"name": "1-30-3", "version": "1.30.3"}], "1-30-3", "1-30-3")
    )
    assert result.ok, result.errors
    assert all(not c.aliases[:-1] for c in by_name(result, CHART_TYPE).values())
    # outputs of a deployment from before (`revision` without `revisions`): one `up` in between
    before = run_variant(tmp_path, canary, stack_outputs=_with_revision("1-30-3"))
    assert not before.ok and any(
        "run one `pulumi up` with meshbridge:mesh.istio.revision: 1-30-3" in e for e in before.errors
    )


def test_one_cluster_moves_its_default_tag_first(tmp_path: Path) -> None:
    def first(cfg: dict[str, Any]) -> None:
        _revisions(UNREV, NEW)(cfg)
        cfg["meshbridge:clusters"][0]["istio"] = {"defaultRevision": "1-31-0"}

    result = run_variant(tmp_path, first)
    assert result.ok, result.errors
    charts = set(by_name(result, CHART_TYPE))
    assert "cluster-a-istio-revision-tag-default" in charts and "cluster-b-istio-revision-tag-default" not in charts
    # or installs the canary on one cluster only
    only_a = run_variant(
        tmp_path,
        lambda cfg: (
            _revisions(UNREV, NEW)(cfg),
            cfg["meshbridge:clusters"][1].update(istio={"revisions": ["default"]}),
        ),
    )
    assert only_a.ok and "cluster-b-istiod-1-31-0" not in by_name(only_a, CHART_TYPE)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda cfg: (_revisions(UNREV, NEW)(cfg), cfg["meshbridge:mesh"]["istio"].update(version="1.30.3")),
            "meshbridge:mesh.istio: give either revisions or version, not both",
        ),
        (_revisions(UNREV, NEW, defaultRevision="1-32-0"), "meshbridge:mesh.istio.defaultRevision: 1-32-0 is not one"),
        (_revisions(UNREV, UNREV), "meshbridge:mesh.istio.revisions[1].name: default is given twice"),
        (
            _revisions(UNREV, {"name": "1-33-0", "version": "1.33.0"}),
            "meshbridge:mesh.istio.revisions: versions more than two minor versions apart",
        ),
        (
            lambda cfg: (_revisions(UNREV, NEW)(cfg), cfg["meshbridge:clusters"][1].update(istio={"revisions": ["x"]})),
            "meshbridge:clusters[1].istio.revisions: x is not one of meshbridge:mesh.istio.revisions",
        ),
        (
            lambda cfg: (
                _revisions(UNREV, NEW, gatewayRevision="1-31-0")(cfg),
                cfg["meshbridge:clusters"][1].update(istio={"revisions": ["default"]}),
            ),
            "meshbridge:clusters[1].istio.gatewayRevision: 1-31-0 is not installed on cluster-b",
        ),
        (
            lambda cfg: cfg["meshbridge:clusters"][1].update(istio={"defaultRevision": "default"}),
            "meshbridge:clusters[1].istio.defaultRevision: only with meshbridge:mesh.istio.revisions",
        ),
    ],
)
def test_canary_settings_that_cannot_be_are_refused_with_their_key_path(
    tmp_path: Path, mutate: Any, error: str
) -> None:
    refused = run_variant(tmp_path, mutate)
    assert not refused.ok and not refused.registrations
    assert any(e.startswith(error) for e in refused.errors), refused.errors


def test_a_canary_upgrade_goes_in_order_install_tag_gateway_remove(tmp_path: Path) -> None:
    """Each step against the outputs of the step before: what goes through, and what is refused."""
    single = _with_revision(None)
    # 1. install the canary beside the unrevisioned istiod
    assert run_variant(tmp_path, _revisions(UNREV, NEW), stack_outputs=single).ok
    # installing and moving the default tag at once is refused
    both = run_variant(tmp_path, _revisions(UNREV, NEW, defaultRevision="1-31-0"), stack_outputs=single)
    assert not both.ok and any("install 1-31-0 first, then move the default tag" in e for e in both.errors)
    # 2. the default tag (and the gateway) move alone
    installed = _ran([UNREV, NEW], "default", "default")
    step2 = _revisions(UNREV, NEW, defaultRevision="1-31-0", gatewayRevision="1-31-0")
    assert run_variant(tmp_path, step2, stack_outputs=installed).ok
    # 3. the old revision goes once nothing uses it: not while the gateway did in the last `up`
    tag_moved = _ran([UNREV, NEW], "1-31-0", "default")
    gone = run_variant(tmp_path, _revisions(NEW), stack_outputs=tag_moved)
    assert not gone.ok and any("revision default is removed while the east-west gateway" in e for e in gone.errors)
    assert run_variant(tmp_path, _revisions(NEW), stack_outputs=_ran([UNREV, NEW], "1-31-0", "1-31-0")).ok
    # and not straight back to a single revision with two running
    back = run_variant(tmp_path, lambda cfg: None, stack_outputs=installed)
    assert not back.ok and any("remove all but one" in e for e in back.errors)
    # rollback of step 2: the tag moves back alone
    assert run_variant(tmp_path, _revisions(UNREV, NEW), stack_outputs=_ran([UNREV, NEW], "1-31-0", "1-31-0")).ok
