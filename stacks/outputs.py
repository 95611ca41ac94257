"""The stack outputs contract (docs/outputs.md). Bump OUTPUTS_VERSION on any breaking change."""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.config import GATEWAY_PORT
from stacks.mesh import Mesh

OUTPUTS_VERSION = 1


def cluster_outputs(mesh: Mesh, name: str) -> dict[str, Any]:
    cfg = mesh.config
    spec = cfg.cluster(name)
    out: dict[str, Any] = {
        "clusterName": name,
        "network": spec.network,
        "region": spec.region,
        "zone": spec.zone,
        "accountId": mesh.inputs[name].account_id,
        "labels": dict(spec.labels),
        "gatewayPort": GATEWAY_PORT,
    }
    for part in mesh.parts.values():
        contribute = getattr(part, "cluster_outputs", None)
        if contribute is not None:
            out.update(contribute(name))
    return out


def build_outputs(mesh: Mesh) -> dict[str, Any]:
    cfg = mesh.config
    outputs: dict[str, Any] = {
        "outputsVersion": OUTPUTS_VERSION,
        "mesh": {
            "id": cfg.mesh.id,
            "trustDomain": cfg.mesh.trust_domain,
            "connectivity": cfg.mesh.connectivity,
            "mtls": cfg.mesh.mtls,
            "importNamespace": cfg.mesh.import_namespace,
            "istioVersion": cfg.mesh.istio.version,
        },
        "clusters": {c.name: cluster_outputs(mesh, c.name) for c in cfg.clusters},
    }
    for part in mesh.parts.values():
        contribute = getattr(part, "stack_outputs", None)
        if contribute is not None:
            outputs.update(contribute())
    return outputs


def export_outputs(mesh: Mesh) -> None:
    for key, value in build_outputs(mesh).items():
        pulumi.export(key, value)
