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
  start without sidecars and running proxies lose their control plane (`mesh.istio.revisions`,
  the canary upgrade, avoids it, in the order `revision_problems` holds it to).

The previous values are read from this stack's own outputs (the engine's `readStackOutputs`, what a
StackReference to this stack reads) before any resource is registered. A stack without outputs (its
first `up`) has nothing to compare.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from stacks.config.model import MeshConfig

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


DEFAULT_REVISION = "default"  # how a control plane without a revision is named in the gates


def _previous_istio(cluster: Any) -> Optional[tuple[list[str], str, str]]:
    """(installed revisions, default tag's, gateway's) of a cluster's last `istio` output."""
    istio = cluster.get("istio") if isinstance(cluster, dict) else None
    if not isinstance(istio, dict):
        return None
    single = str(istio.get("revision") or DEFAULT_REVISION)
    revisions = istio.get("revisions")
    if not isinstance(revisions, list):
        return [single], single, single
    names = [str(r.get("name")) for r in revisions if isinstance(r, dict)]
    return names, str(istio.get("defaultRevision") or single), str(istio.get("gatewayRevision") or single)


def revision_problems(cfg: MeshConfig, clusters: Any) -> list[str]:
    """Changes of a cluster's control plane revisions against its last outputs (`istio`): a single
    revision changed (refused unless mesh.migration.fromRevision), and in canary mode the order of
    docs/runbook.md, "Canary upgrade": a revision is installed before the default tag or the
    gateway moves to it, the default tag moves in an `up` of its own, and a revision goes only after
    neither the default tag nor the gateway uses it."""
    if not isinstance(clusters, dict):
        return []
    istio = cfg.mesh.istio
    found: list[str] = []
    for i, spec in enumerate(cfg.clusters):
        before = _previous_istio(clusters.get(spec.name))
        if before is None:
            continue
        installed, default, gateway = before
        canary = spec.istio_revisions(istio)
        at = f"meshbridge:clusters[{i}].istio ({spec.name})"
        if canary is None:
            now = istio.revision or DEFAULT_REVISION
            if len(installed) > 1:
                found.append(
                    f"meshbridge:mesh.istio.revisions: {spec.name} runs revisions {', '.join(installed)}; remove all "
                    "but one with meshbridge:mesh.istio.revisions before going back to a single revision"
                )
            elif default != now and cfg.mesh.migration.from_revision != default:
                found.append(
                    f"meshbridge:mesh.istio.revision: changing the Istio revision from {default} to {now} deletes "
                    f"istiod {default} on every cluster at the end of the same `up` (pods labelled for {default} "
                    "start without sidecars, proxies lose their control plane); set "
                    f'meshbridge:mesh.migration.fromRevision: {default} (docs/runbook.md, "Changing the Istio '
                    'revision") or use meshbridge:mesh.istio.revisions (docs/runbook.md, "Canary upgrade")'
                )
            continue
        legacy = isinstance(clusters.get(spec.name), dict) and "revisions" not in clusters[spec.name]["istio"]
        if legacy and default != DEFAULT_REVISION:
            found.append(
                f"meshbridge:mesh.istio.revisions: {spec.name}'s istiod {default} was deployed before revisions "
                "had resource names of their own; run one `pulumi up` with meshbridge:mesh.istio.revision: "
                f"{default} first (it renames nothing in the cluster), then switch to revisions"
            )
            continue
        names = [r.name for r in canary.installed]
        removed = [r for r in installed if r not in names]
        for r in removed:
            if r in (default, gateway):
                use = "the default tag" if r == default else "the east-west gateway"
                found.append(
                    f"{at}: revision {r} is removed while {use} still used it in the last `up`; move "
                    f"{use} to another revision in an `up` of its own first"
                )
        if canary.default != default and (canary.default not in installed or names != installed):
            found.append(
                f"{at}: the default tag moves from {default} to {canary.default} in an `up` that also installs or "
                f"removes revisions (last: {', '.join(installed)}; now: {', '.join(names)}); install "
                f"{canary.default} first, then move the default tag in an `up` of its own"
            )
    return list(dict.fromkeys(found))  # the same mesh-wide problem once
