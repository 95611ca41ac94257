"""make e2e only: `pulumi.com/skipAwait: "true"` on the objects that would wait for a controller.

tools/e2e/run.py runs this file in every program run of the e2e (`pulumi_client_host.py --preload`),
before the program. It registers a stack transform, so it also reaches the objects of the Helm
charts (components/helm.py registers one resource per chart object). It is never part of the program
or of a stack file of ours: on a real cluster the awaits are what tells a failed rollout apart.

pulumi-kubernetes waits (pkg/await) for these kinds, and in the e2e nothing would ever satisfy it:
the API servers run alone, without kube-controller-manager, scheduler, kubelet, a cloud controller
or a load balancer implementation (docs/e2e.md, "What the API servers do not run"):
- Deployment (istiod, istio-eastwestgateway), StatefulSet, DaemonSet, ReplicationController: ready
  replicas (no ReplicaSet, no pod ever runs);
- Job (the connectivity checks): completion;
- Pod: running and ready;
- Service with a selector: Endpoints with ready pods; type LoadBalancer also an ingress address;
- PersistentVolumeClaim: bound; Ingress: an address;
- Namespace, on delete: the namespace controller finalizing it (the API server only marks it
  Terminating).

A Job that the program marks `pulumi.com/replaceUnready: "true"` (the connectivity checks: a check
that did not complete runs again on the next `up`) gets "false": no Job completes here, so every
`up` would replace it.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

ANNOTATION = "pulumi.com/skipAwait"
REPLACE_UNREADY = "pulumi.com/replaceUnready"
# the annotations this transform sets; the e2e leaves them out when it compares objects with synth's
OVERRIDES = (ANNOTATION, REPLACE_UNREADY)
AWAITED = {
    "apps/v1:Deployment",
    "apps/v1:StatefulSet",
    "apps/v1:DaemonSet",
    "core/v1:ReplicationController",
    "batch/v1:Job",
    "core/v1:Pod",
    "core/v1:PersistentVolumeClaim",
    "networking.k8s.io/v1:Ingress",
    "core/v1:Namespace",
}


def needs_skip(type_: str, props: dict[str, Any]) -> bool:
    if not type_.startswith("kubernetes:"):
        return False
    kind = type_.split(":", 1)[1]
    if kind in AWAITED:
        return True
    if kind == "core/v1:Service":
        spec = props.get("spec") or {}
        headless = spec.get("clusterIP") == "None" or spec.get("clusterIp") == "None"
        return spec.get("type") == "LoadBalancer" or (bool(spec.get("selector")) and not headless)
    return False


def skip_await(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    props: dict[str, Any] = dict(args.props or {})  # type: ignore[arg-type] # plain values in a transform
    if not args.custom or not needs_skip(args.type_, props):
        return None
    metadata = dict(props.get("metadata") or {})
    annotations = {**(metadata.get("annotations") or {}), ANNOTATION: "true"}
    if annotations.get(REPLACE_UNREADY) == "true":
        annotations[REPLACE_UNREADY] = "false"
    metadata["annotations"] = annotations
    props["metadata"] = metadata
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


if __name__ == "__preload__":  # run by pulumi_client_host.py --preload (run.py only imports the names)
    pulumi.runtime.register_resource_transform(skip_await)
