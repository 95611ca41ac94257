"""Mesh-wide telemetry of one cluster: Istio's `Telemetry` API object in the root namespace.

`MeshTelemetry` creates `Telemetry istio-system/mesh-default` (a Telemetry in the root namespace
without a selector applies to every workload of the cluster): access logging through Istio's
built-in `envoy` provider (file /dev/stdout, read by the cluster's log pipeline), and tracing through
the extension provider that the istiod chart gets in `meshConfig.extensionProviders`
(`tracing_extension_provider`), sampled at a percentage. Metrics need nothing here: Istio's
standard metrics are on by default and carry `source_cluster`/`destination_cluster` (the clusterName
every istiod gets). Collectors, Prometheus, Grafana and Kiali are the teams' own (docs/observability
in docs/runbook.md); nothing of theirs is installed.

The component reads no configuration: typed args, its child through `child_opts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import ACCESS_LOG_PROVIDER, ISTIO_NAMESPACE, MANAGED_BY, MESH_TELEMETRY, TRACING_PROVIDER
from components.options import Dependency, child_opts

TELEMETRY_API = "telemetry.istio.io/v1"
TRACING_KINDS = ("opentelemetry", "zipkin")


def tracing_extension_provider(kind: str, service: str, port: int, name: str = TRACING_PROVIDER) -> dict[str, Any]:
    """The `meshConfig.extensionProviders` entry of a tracing collector (Istio MeshConfig.ExtensionProvider):
    `opentelemetry` (OTLP gRPC) or `zipkin`, at the collector Service `service` and `port`."""
    if kind not in TRACING_KINDS:
        raise ValueError(f"tracing provider {kind!r} is not one of {', '.join(TRACING_KINDS)}")
    return {"name": name, kind: {"service": service, "port": port}}


@dataclass(frozen=True)
class MeshTelemetryArgs:
    """The mesh-wide Telemetry of one cluster."""

    cluster: str  # the cluster's name (part of the resource name)
    provider: pulumi.ProviderResource  # the cluster's kubernetes.Provider
    access_logging: bool  # Envoy access logs of every sidecar and gateway (the `envoy` provider)
    # the extension provider that traces (None: no tracing) and its sampling percentage (0-100)
    tracing_provider: Optional[str] = None
    sampling_percentage: float = 1.0
    # the cluster's istiod (CRDs, validation webhook, the extension providers in its meshConfig)
    depends_on: Sequence[Dependency] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (0.0 <= self.sampling_percentage <= 100.0):
            raise ValueError(f"{self.cluster}: sampling percentage {self.sampling_percentage} is not in 0-100")


def telemetry_spec(args: MeshTelemetryArgs) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if args.access_logging:
        spec["accessLogging"] = [{"providers": [{"name": ACCESS_LOG_PROVIDER}]}]
    if args.tracing_provider:
        spec["tracing"] = [
            {
                "providers": [{"name": args.tracing_provider}],
                "randomSamplingPercentage": args.sampling_percentage,
            }
        ]
    return spec


class MeshTelemetry(pulumi.ComponentResource):
    """`Telemetry istio-system/mesh-default` on one cluster."""

    telemetry: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: MeshTelemetryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:telemetry:MeshTelemetry", name, None, opts)
        spec = telemetry_spec(args)
        if not spec:
            raise ValueError(f"{args.cluster}: a mesh Telemetry needs access logging or tracing")
        self.telemetry = k8s.apiextensions.CustomResource(
            f"{args.cluster}-mesh-telemetry",
            api_version=TELEMETRY_API,
            kind="Telemetry",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=MESH_TELEMETRY, namespace=ISTIO_NAMESPACE, labels=dict(MANAGED_BY)
            ),
            spec=spec,
            opts=child_opts(self, args.provider, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"cluster": args.cluster, "accessLogging": args.access_logging})
