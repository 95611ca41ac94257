"""Wiring of `meshbridge:observability`: the mesh-wide Telemetry per cluster and the Prometheus settings.

- Every cluster gets `Telemetry istio-system/mesh-default` (components/telemetry.py) when access
  logging is on or a tracing collector is named; its tracing provider is the extension provider
  istiod gets in `meshConfig.extensionProviders` (stacks/istio.py, `extension_providers`). It waits
  for the cluster's istiod.
- Prometheus is the teams' own: meshbridge installs none and changes none. It publishes, per
  cluster, the external labels that tell the clusters apart (`<clusterLabel>: <cluster>` plus the
  common `externalLabels`) and, when a central Prometheus is named, the `remote_write` entry of each
  cluster's Prometheus or the central Prometheus' federation `scrape_configs`, as stack outputs
  (`observability`, docs/outputs.md) that the teams' own Prometheus configuration reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.constants import ACCESS_LOG_PROVIDER, TRACING_PROVIDER
from components.telemetry import MeshTelemetry, MeshTelemetryArgs
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig
from stacks.istio import ControlPlanes

# the Istio metrics a central Prometheus federates (standard metrics and Envoy's own, istio_*)
FEDERATED_MATCH = '{__name__=~"istio_.*"}'


@dataclass
class Telemetry:
    """A `MeshTelemetry` per cluster (none when neither access logging nor tracing is on)."""

    by_cluster: dict[str, MeshTelemetry] = field(default_factory=dict)


def wire_telemetry(cfg: MeshConfig, clusters: Clusters, control_planes: ControlPlanes) -> Telemetry:
    obs = cfg.observability
    telemetry = Telemetry()
    if not (obs.access_logging or obs.tracing):
        return telemetry
    for spec in cfg.clusters:
        cluster = clusters[spec.name]
        telemetry.by_cluster[spec.name] = MeshTelemetry(
            names.mesh_telemetry(spec.name),
            MeshTelemetryArgs(
                cluster=spec.name,
                provider=cluster.k8s_provider,
                access_logging=obs.access_logging,
                tracing_provider=TRACING_PROVIDER if obs.tracing else None,
                sampling_percentage=obs.tracing.sampling_percentage if obs.tracing else 1.0,
                depends_on=control_planes.ready(spec.name),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return telemetry


def external_labels(cfg: MeshConfig, cluster: str) -> dict[str, str]:
    prom = cfg.observability.prometheus
    return {**dict(sorted(prom.external_labels.items())), prom.cluster_label: cluster}


def observability_outputs(cfg: MeshConfig) -> dict[str, Any]:
    """The `observability` stack output (docs/outputs.md): what each team tool needs to see the mesh."""
    obs = cfg.observability
    prom = obs.prometheus
    central = prom.central
    clusters: dict[str, Any] = {}
    for spec in cfg.clusters:
        entry: dict[str, Any] = {"externalLabels": external_labels(cfg, spec.name)}
        if central is not None and central.mode == "remoteWrite":
            entry["remoteWrite"] = [{"url": central.url}]
        clusters[spec.name] = entry
    out: dict[str, Any] = {
        "accessLogging": {
            "enabled": obs.access_logging,
            "provider": ACCESS_LOG_PROVIDER if obs.access_logging else None,
        },
        "tracing": (
            {
                "provider": obs.tracing.provider,
                "extensionProvider": TRACING_PROVIDER,
                "service": obs.tracing.service,
                "port": obs.tracing.collector_port,
                "samplingPercentage": obs.tracing.sampling_percentage,
            }
            if obs.tracing
            else None
        ),
        "prometheus": {"clusterLabel": prom.cluster_label, "clusters": clusters},
    }
    if central is not None and central.mode == "federation":
        targets = central.targets or {}
        out["prometheus"]["federation"] = {
            "scrapeConfigs": [
                {
                    "job_name": f"federate-{spec.name}",
                    "honor_labels": True,
                    "metrics_path": "/federate",
                    "params": {"match[]": [FEDERATED_MATCH]},
                    "static_configs": [{"targets": [targets[spec.name]]}],
                }
                for spec in cfg.clusters
            ]
        }
    return out
