"""Mesh expansion: VMs or hosts that join the mesh through a cluster's istiod (docs/services.md,
"VMs in the mesh").

Per workload group, in its cluster: Istio's `WorkloadGroup` (the template istiod uses when a VM's
proxy registers itself: labels, service account, network) and one `WorkloadEntry` per instance
(address, labels, service account, network, locality), so the VMs are endpoints from the first
`pulumi up`, before any proxy has connected; and the Kubernetes `Service` of the service they back
(a Service selecting WorkloadEntries by labels puts them behind its host, like pods). The VMs'
own proxies reach istiod through the cluster's east-west gateway (components/istio.py,
`expose_istiod`; the outputs give what a VM's bootstrap needs: stacks/outputs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.constants import MANAGED_BY
from components.options import Dependency, child_opts
from components.services import ServicePort, service_ports

NETWORKING_API = "networking.istio.io/v1"


@dataclass(frozen=True)
class WorkloadInstanceArgs:
    """One VM: the name of its WorkloadEntry, its address, its labels besides the group's, its locality."""

    entry: str
    address: str
    locality: str  # region/zone (or region)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadGroupArgs:
    """A group of VMs backing one service in one cluster."""

    group: str  # the WorkloadGroup's name
    namespace: str
    service: str  # the Kubernetes Service rendered for them
    service_account: str
    labels: dict[str, str]  # the group's labels (a superset of the service's selector)
    selector: dict[str, str]  # the service's workload selector (the Service's selector)
    network: str  # the cluster's network: the VMs are on it
    ports: Sequence[ServicePort]
    instances: Sequence[WorkloadInstanceArgs]
    provider: k8s.Provider
    # Istio objects wait for istiod (its validating webhook fails closed)
    depends_on: Sequence[Dependency] = ()


def workload_group_spec(args: WorkloadGroupArgs) -> dict[str, object]:
    return {
        "metadata": {"labels": dict(args.labels)},
        "template": {"serviceAccount": args.service_account, "network": args.network},
    }


def workload_entry_spec(args: WorkloadGroupArgs, inst: WorkloadInstanceArgs) -> dict[str, object]:
    return {
        "address": inst.address,
        "labels": {**args.labels, **inst.labels},
        "serviceAccount": args.service_account,
        "network": args.network,
        "locality": inst.locality,
    }


class MeshWorkloads(pulumi.ComponentResource):
    """The WorkloadGroup, a WorkloadEntry per VM, and the Service of the service they back."""

    group: k8s.apiextensions.CustomResource
    entries: dict[str, k8s.apiextensions.CustomResource]
    service: k8s.core.v1.Service

    def __init__(self, name: str, args: WorkloadGroupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:workloads:MeshWorkloads", name, None, opts)
        labels = dict(MANAGED_BY)
        after = list(args.depends_on)
        self.group = k8s.apiextensions.CustomResource(
            f"{name}-group",
            api_version=NETWORKING_API,
            kind="WorkloadGroup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.group, namespace=args.namespace, labels=labels),
            spec=workload_group_spec(args),
            opts=child_opts(self, args.provider, depends_on=after),
        )
        self.entries = {}
        for inst in args.instances:
            self.entries[inst.entry] = k8s.apiextensions.CustomResource(
                f"{name}-{inst.entry}",
                api_version=NETWORKING_API,
                kind="WorkloadEntry",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=inst.entry, namespace=args.namespace, labels=labels),
                spec=workload_entry_spec(args, inst),
                opts=child_opts(self, args.provider, depends_on=after),
            )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.service, namespace=args.namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(selector=dict(args.selector), ports=service_ports(args.ports)),
            opts=child_opts(self, args.provider),
        )
        self.register_outputs({})
