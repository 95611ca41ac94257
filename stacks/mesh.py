"""The composition of one stack: configuration in, a `Mesh` (every part, typed) out.

Each part is a function of the parts it needs and returns its own typed result, so the order below
is the order of the data flow (docs/architecture.md, "Layout of the program"):

    clusters -> pki -> control planes -> exports -> east-west gateways -> network -> imports
                                      \\-> distributions

The east-west gateways pass through the hosts the exports export; the network's TargetGroupBinding
waits for the east-west gateway release; imports point at the network's gateway addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.clusters import Clusters, wire_clusters
from stacks.config_model import MeshConfig
from stacks.distribution import Distributions, wire_distributions
from stacks.istio import ControlPlanes, EastWestGateways, wire_control_planes, wire_eastwest
from stacks.network import Network, gateway_clusters, wire_network
from stacks.pki import Pki, wire_pki
from stacks.services import Exports, Imports, wire_exports, wire_imports


@dataclass(frozen=True)
class Mesh:
    """Every part of one stack's mesh (stacks/outputs.py turns it into the outputs contract)."""

    config: MeshConfig
    clusters: Clusters
    pki: Pki
    control_planes: ControlPlanes
    exports: Exports
    eastwest: EastWestGateways
    network: Network
    imports: Imports
    distributions: Distributions


def build_mesh(cfg: MeshConfig) -> Mesh:
    clusters = wire_clusters(cfg, readiness_gate=set(gateway_clusters(cfg)))
    pki = wire_pki(cfg, clusters)
    control_planes = wire_control_planes(cfg, clusters, pki)
    exports = wire_exports(cfg, clusters, control_planes)
    eastwest = wire_eastwest(cfg, clusters, control_planes, exports.hosts_by_cluster())
    network = wire_network(cfg, clusters, eastwest)
    imports = wire_imports(cfg, clusters, control_planes, exports, network)
    distributions = wire_distributions(cfg, clusters, control_planes)
    return Mesh(
        config=cfg,
        clusters=clusters,
        pki=pki,
        control_planes=control_planes,
        exports=exports,
        eastwest=eastwest,
        network=network,
        imports=imports,
        distributions=distributions,
    )
