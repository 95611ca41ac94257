"""A Helm chart rendered client-side and registered by the program, one resource per object.

Why not `kubernetes.helm.v4.Chart`: it is a remote component, built by pulumi-kubernetes'
Construct, and Construct refuses a cluster it cannot reach ("configured Kubernetes cluster is
unreachable", provider_construct.go) whatever `skipUpdateUnreachable` says; the engine then stops
the whole program, preview included, for every cluster. Here the chart is rendered by the
provider's `kubernetes:helm:template` function (Helm's `install --dry-run` with `ClientOnly`: no
cluster needed) and each object is registered by this component, so the provider's
`skipUpdateUnreachable` covers it: with one API server down an `up` updates every other cluster
and warns once per skipped object of the dead one (docs/architecture.md, "A cluster that is down").

It keeps what the v4 Chart gave: one Pulumi resource per object (per-object preview diffs, the
same state size), the v4 Chart's resource names (`<chart>:<namespace>/<name>`) and, through an
alias of its type, the URNs of stacks deployed with it (nothing is replaced or recreated), Secret
data marked secret, and CustomResourceDefinitions before the other objects of the chart.

A dependent waits for the chart's objects through `ready`: the objects are registered once the
render returns, so a plain dependency on this component would see none of them yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

CHART_TYPE = "meshbridge:helm:Chart"
# the type these charts had before (pulumi-kubernetes' helm.sh/v4 Chart): an alias keeps their URNs
V4_CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
TEMPLATE = "kubernetes:helm:template"
CRD_KIND = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


@dataclass(frozen=True)
class HelmChartArgs:
    """One release of one chart."""

    release: str  # Helm release name
    namespace: str
    chart: str  # chart name (with `repository`), an oci:// reference or a local chart folder
    version: str  # chart version (x.y.z)
    values: pulumi.Input[Mapping[str, Any]]
    provider: k8s.Provider
    repository: Optional[str] = None  # https:// chart repository of `chart`
    # which rendered objects are this release's, as `Kind/name`: only these (a part of a chart, as
    # `helm template -s` gives it), or all but these
    only: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    # the Kubernetes version the chart is rendered for (the provider's `kube_version`); None: the
    # cluster's, or Helm's library default (1.20) when the cluster cannot be reached
    kube_version: Optional[str] = None


def kind_name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def selected(args: HelmChartArgs, objects: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rendered objects that are this release's (`only`, `omit`)."""
    return [o for o in objects if (not args.only or kind_name(o) in args.only) and kind_name(o) not in args.omit]


def chart_source(repository: str, chart: str) -> tuple[str, Optional[str]]:
    """(chart, https repository or None) for an https:// repository, an oci:// registry or a local
    folder of charts (`<folder>/<chart>`)."""
    if repository.startswith("oci://"):
        return f"{repository.rstrip('/')}/{chart}", None
    if repository.startswith("https://"):
        return chart, repository
    return f"{repository.rstrip('/')}/{chart}", None


def template_options(args: HelmChartArgs, values: Mapping[str, Any]) -> dict[str, Any]:
    """The `jsonOpts` of `kubernetes:helm:template` (pulumi-kubernetes' HelmChartOpts)."""
    opts: dict[str, Any] = {
        "release_name": args.release,
        "namespace": args.namespace,
        "version": args.version,
        "values": dict(values),
    }
    if args.kube_version:
        opts["kube_version"] = args.kube_version
    local = not args.repository and not args.chart.startswith("oci://")
    if local:
        opts["path"] = args.chart
    else:
        opts["chart"] = args.chart
        if args.repository:
            opts["fetch_opts"] = {"repo": args.repository, "version": args.version}
    return opts


def object_name(chart: str, obj: Mapping[str, Any]) -> str:
    """The resource name the v4 Chart gave an object: `<chart>:<namespace>/<name>` or `<chart>:<name>`."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{chart}:{ns}/{meta['name']}" if ns else f"{chart}:{meta['name']}"


def _objects(result: Any) -> list[Mapping[str, Any]]:
    """The objects of a `kubernetes:helm:template` result."""
    return list((result or {}).get("result") or [])


class KubernetesObject(pulumi.CustomResource):
    """Any Kubernetes object, its fields passed as they are (the type token names its kind)."""

    def __init__(self, name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions):
        group_version, kind = str(obj["apiVersion"]), str(obj["kind"])
        typ = f"kubernetes:{group_version if '/' in group_version else 'core/' + group_version}:{kind}"
        props = dict(obj)
        if (group_version, kind) == ("v1", "Secret"):
            # as the v4 Chart does: a Secret's data is never shown or stored in clear
            props = {k: pulumi.Output.secret(v) if k in ("data", "stringData") else v for k, v in props.items()}
        super().__init__(typ, name, props, opts)


class HelmChart(pulumi.ComponentResource):
    """A chart's objects on one cluster; `ready` is what a dependent puts in `depends_on`."""

    # this chart, once every object is registered; as a `depends_on` item it stands for all of them
    ready: pulumi.Output[pulumi.Resource]

    def __init__(self, name: str, args: HelmChartArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # the v4 Chart's inputs, as its component recorded them (synth reads them to render the chart)
        props = {
            "chart": args.chart,
            "name": args.release,
            "namespace": args.namespace,
            "version": args.version,
            "values": args.values,
            "repositoryOpts": {"repo": args.repository} if args.repository else None,
            **({"only": list(args.only)} if args.only else {}),
            **({"omit": list(args.omit)} if args.omit else {}),
            **({"kubeVersion": args.kube_version} if args.kube_version else {}),
        }
        alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=V4_CHART_TYPE)])
        super().__init__(CHART_TYPE, name, props, pulumi.ResourceOptions.merge(opts, alias))
        self.args = args
        rendered = pulumi.Output.from_input(args.values).apply(
            lambda values: pulumi.runtime.invoke_output(
                TEMPLATE,
                {"jsonOpts": json.dumps(template_options(args, values))},
                pulumi.InvokeOutputOptions(provider=args.provider, parent=self),
            )
        )
        self.ready = rendered.apply(lambda result: self._register(selected(args, _objects(result)), name))
        self.register_outputs({})

    def _register(self, objects: list[Mapping[str, Any]], name: str) -> pulumi.Output[pulumi.Resource]:
        crds = [o for o in objects if (o.get("apiVersion"), o.get("kind")) == CRD_KIND]
        others = [o for o in objects if (o.get("apiVersion"), o.get("kind")) != CRD_KIND]
        child = pulumi.ResourceOptions(parent=self, provider=self.args.provider)
        first = [KubernetesObject(object_name(name, o), o, child) for o in crds]
        after = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=first))
        rest = [KubernetesObject(object_name(name, o), o, after) for o in others]
        # an Output that depends on every object and then gives this component, whose children they
        # all are by then (the SDK expands a component dependency to its children)
        return pulumi.Output.all(*[r.urn for r in (*first, *rest)]).apply(lambda _: self)
