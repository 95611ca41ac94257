"""Risky changes gated (docs/runbook.md, "Renaming a network", "Switching the discovery model").

Two changes update in place but leave the mesh split until something else happens, so they need
the operator's explicit acknowledgement (`meshbridge:mesh.migration`):

- a cluster's `network` rename: injection bakes the network into every pod, so the cluster runs on
  two networks (and the other clusters' meshNetworks know only the new one) until all its pods
  restart;
- a switch of `mesh.model`: the remotes' webhooks and proxies, the remote secrets and the readers
  change in one `up`, while pods keep pointing at the control plane they were injected for;
- a change of `mesh.istio.revision`: every cluster installs the new revision's istiod and deletes
  the old one's at the end of the same `up`, so pods of namespaces labelled for the old revision
  start without sidecars and running proxies lose their control plane (there is no canary yet).

The previous values are read from this stack's own outputs (the engine's `readStackOutputs`, what a
StackReference to this stack reads) before any resource is registered. A stack without outputs (its
first `up`) has nothing to compare.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from stacks.config_model import MeshConfig

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


def own_stack_name() -> str:
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


def previous_outputs() -> Optional[dict[str, Any]]:
    """This stack's outputs as of its last deployment; None when it has none (or the backend cannot
    say: then nothing is gated, and the engine's own preview still shows the change)."""
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": own_stack_name()})
    except Exception as exc:  # any answer but outputs means "nothing to compare"
        pulumi.log.warn(f"meshbridge: this stack's previous outputs could not be read ({exc}): nothing is gated")
        return None
    value = result.value if isinstance(result.value, dict) else {}
    outputs = value.get("outputs")
    return outputs if isinstance(outputs, dict) and outputs else None


def migration_problems(cfg: MeshConfig, previous: Optional[dict[str, Any]]) -> list[str]:
    """The risky changes against `previous` (the stack's last outputs) that `mesh.migration` does not
    acknowledge, each with its key path."""
    if not previous:
        return []
    problems: list[str] = []
    mesh = previous.get("mesh")
    if isinstance(mesh, dict):
        # the outputs name the model only for a discovery model (stacks/outputs.py)
        before = mesh.get("model") or "imports"
        if before != cfg.mesh.model and cfg.mesh.migration.from_model != before:
            problems.append(
                f"meshbridge:mesh.model: switching from {before} to {cfg.mesh.model} changes every "
                "cluster's control plane, remote secrets and webhooks in one `up` while running pods keep "
                'the old one; follow docs/runbook.md, "Switching the discovery model", and set '
                f"meshbridge:mesh.migration.fromModel: {before}"
            )
    clusters = previous.get("clusters")
    problems += revision_problems(cfg, clusters)
    if isinstance(clusters, dict):
        for i, spec in enumerate(cfg.clusters):
            old = (clusters.get(spec.name) or {}).get("network") if isinstance(clusters.get(spec.name), dict) else None
            if isinstance(old, str) and old != spec.network and cfg.mesh.migration.networks.get(spec.name) != old:
                problems.append(
                    f"meshbridge:clusters[{i}].network: renaming {spec.name}'s network from {old} to "
                    f"{spec.network} leaves its running pods on {old} until they restart; follow "
                    'docs/runbook.md, "Renaming a network", and set '
                    f"meshbridge:mesh.migration.networks.{spec.name}: {old}"
                )
    return problems


DEFAULT_REVISION = "default"  # how a control plane without a revision is named in the gate


def revision_problems(cfg: MeshConfig, clusters: Any) -> list[str]:
    """A change of `mesh.istio.revision` from the revision the clusters' outputs name (`istio.revision`)."""
    if not isinstance(clusters, dict):
        return []
    now = cfg.mesh.istio.revision or DEFAULT_REVISION
    before = sorted(
        {
            str(c["istio"].get("revision") or DEFAULT_REVISION)
            for c in clusters.values()
            if isinstance(c, dict) and isinstance(c.get("istio"), dict)
        }
    )
    changed = [b for b in before if b != now and cfg.mesh.migration.from_revision != b]
    return [
        f"meshbridge:mesh.istio.revision: changing the Istio revision from {b} to {now} installs istiod "
        f"{now} and deletes istiod {b} at the end of the same `up` on every cluster: pods of namespaces "
        f"labelled for {b} start without sidecars and running proxies lose their control plane; follow "
        'docs/runbook.md, "Changing the Istio revision", and set '
        f"meshbridge:mesh.migration.fromRevision: {b}"
        for b in changed
    ]
