"""Wiring of `meshbridge:distribute`: a `Distribution` per entry, to the clusters its selector matches.

The objects were loaded and checked with the configuration (stacks/config/load.py, stacks/config/strict.py);
each waits for the target cluster's istiod (Istio kinds need the CRDs and the validation webhook).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.distribution import Distribution, DistributionArgs
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig
from stacks.istio import ControlPlanes


@dataclass
class Distributions:
    """A `Distribution` per `meshbridge:distribute` entry, by entry name."""

    by_name: dict[str, Distribution] = field(default_factory=dict)


def wire_distributions(cfg: MeshConfig, clusters: Clusters, control_planes: ControlPlanes) -> Distributions:
    out = Distributions()
    for i, d in enumerate(cfg.distribute):
        targets = cfg.selected_clusters(i)
        out.by_name[d.name] = Distribution(
            names.distribution(d.name),
            DistributionArgs(
                name=d.name,
                objects=cfg.distribute_manifests[i],
                targets={c: clusters[c].k8s_provider for c in targets},
                depends_on={c: control_planes.ready(c) for c in targets},
            ),
        )
    return out
