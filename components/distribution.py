"""Distribution: Kubernetes objects given in configuration, applied to every selected cluster.

The KubeStellar BindingPolicy idea done by the program: the caller (stacks/services.py) resolves
`meshbridge:distribute[i].clusterSelector` to clusters and passes each cluster's provider; this
component applies every object, unchanged, to each of them. Any kind works: the object is
registered with the generic Kubernetes type token `kubernetes:<apiVersion>:<Kind>` and all of its
top-level fields (spec, data, rules, ...), so nothing is dropped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi_kubernetes import _utilities as k8s_utilities

from components.options import Dependency, child_opts


def type_token(api_version: str, kind: str) -> str:
    """The pulumi-kubernetes type token; core objects (`v1`) are `core/v1` there."""
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    """Any Kubernetes object given as a mapping (apiVersion, kind, metadata and its other fields)."""

    def __init__(self, name: str, obj: Mapping[str, Any], opts: Optional[pulumi.ResourceOptions] = None):
        props = copy.deepcopy(dict(obj))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s_utilities.get_version()))
        super().__init__(type_token(str(obj["apiVersion"]), str(obj["kind"])), name, props, opts)


def object_key(obj: Mapping[str, Any]) -> str:
    """kind[-namespace]-name, lower case: stable part of a resource name."""
    meta = obj.get("metadata") or {}
    parts = [str(obj["kind"]).lower()]
    if meta.get("namespace"):
        parts.append(str(meta["namespace"]))
    parts.append(str(meta["name"]))
    return re.sub(r"[^a-z0-9.-]", "-", "-".join(parts).lower())


@dataclass(frozen=True)
class DistributionArgs:
    """One `meshbridge:distribute` entry, resolved to clusters."""

    name: str  # the entry's name: part of every object's resource name
    objects: Sequence[Mapping[str, Any]]  # the Kubernetes objects, applied unchanged
    # cluster name -> that cluster's Kubernetes provider (only the clusters the selector matched)
    targets: Mapping[str, pulumi.ProviderResource]
    # per cluster: what the objects wait for (e.g. the Istio CRDs for Istio kinds)
    depends_on: Mapping[str, Sequence[Dependency]] = field(default_factory=dict)


class Distribution(pulumi.ComponentResource):
    """One `meshbridge:distribute` entry: every object on every target cluster."""

    objects: dict[str, list[KubernetesObject]]

    def __init__(self, name: str, args: DistributionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("meshbridge:distribution:Distribution", name, None, opts)
        if not args.targets:
            raise ValueError(f"Distribution {args.name}: no target cluster")
        keys = [object_key(o) for o in args.objects]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"Distribution {args.name}: the same object is listed twice ({', '.join(dupes)})")
        self.objects = {}
        for cluster, provider in args.targets.items():
            self.objects[cluster] = [
                KubernetesObject(
                    f"{cluster}-{args.name}-{key}",
                    obj,
                    opts=child_opts(self, provider, depends_on=list(args.depends_on.get(cluster, []))),
                )
                for key, obj in zip(keys, args.objects, strict=True)
            ]
        self.register_outputs({"clusters": sorted(args.targets)})
