"""Wiring of mesh expansion (`meshbridge:workloads`): per workload group, in its cluster, the
WorkloadGroup, a WorkloadEntry per VM and the Service of the service it backs (components/workloads.py),
after the cluster's istiod. A cluster with workloads also exposes istiod through its east-west
gateway (stacks/istio.py, stacks/network.py: `MeshConfig.exposes_istiod`), where the VMs' proxies
connect; the NLB admits the VMs' addresses on istiod's port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.workloads import MeshWorkloads, WorkloadGroupArgs, WorkloadInstanceArgs
from stacks import names
from stacks.clusters import Clusters
from stacks.config.model import MeshConfig
from stacks.istio import ControlPlanes
from stacks.services import ports_of


@dataclass
class Workloads:
    """workload group name -> its component."""

    by_name: dict[str, MeshWorkloads] = field(default_factory=dict)


def wire_workloads(cfg: MeshConfig, clusters: Clusters, control_planes: ControlPlanes) -> Workloads:
    found = Workloads()
    for w in cfg.workloads:
        service = next(s for s in cfg.services if s.workload_group == w.name)  # stacks.config.checks
        spec = cfg.cluster(w.cluster)
        cluster = clusters[w.cluster]
        found.by_name[w.name] = MeshWorkloads(
            names.workload_group(w.cluster, w.name),
            WorkloadGroupArgs(
                group=w.name,
                namespace=w.namespace,
                service=service.name,
                service_account=w.sa,
                labels=dict(w.labels),
                selector=service.workload_selector,
                network=spec.network,
                ports=ports_of(service),
                instances=[
                    WorkloadInstanceArgs(
                        entry=w.entry_name(inst),
                        address=inst.address,
                        locality="/".join(x for x in (spec.region, inst.zone) if x),
                        labels=dict(inst.labels or {}),
                    )
                    for inst in w.instances
                ],
                provider=cluster.k8s_provider,
                depends_on=control_planes.ready(w.cluster),
            ),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
    return found


def workload_outputs(cfg: MeshConfig, root_pem: pulumi.Input[str], istiod_addresses: dict[str, Any]) -> dict[str, Any]:
    """What a VM's bootstrap needs, per workload group (docs/outputs.md, `workloads`)."""
    out: dict[str, Any] = {}
    for w in cfg.workloads:
        spec = cfg.cluster(w.cluster)
        out[w.name] = {
            "cluster": w.cluster,
            "namespace": w.namespace,
            "serviceAccount": w.sa,
            "network": spec.network,
            "meshId": cfg.mesh.id,
            "trustDomain": cfg.mesh.trust_domain,
            "discoveryAddress": "istiod.istio-system.svc:15012",
            "istiodAddress": istiod_addresses.get(w.cluster),
            "rootCertificatePem": root_pem,
            "addresses": [inst.address for inst in w.instances],
        }
    return out
