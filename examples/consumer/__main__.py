"""Another team's project on top of the mesh: trust bundle for VMs and the gateway addresses.

It reads meshbridge's outputs (docs/outputs.md) through a stack reference, refuses an outputs
version it does not know, and puts the mesh trust bundle into a ConfigMap of one cluster so that VM
workloads (or any TLS client outside the mesh) can verify mesh certificates.
"""

import pulumi
import pulumi_kubernetes as k8s

SUPPORTED_OUTPUTS_VERSION = 1

config = pulumi.Config("mesh-consumer")
mesh = pulumi.StackReference("mesh", stack_name=config.require("meshStack"))
cluster = config.require("cluster")


def _checked(version: object) -> int:
    if version != SUPPORTED_OUTPUTS_VERSION:
        raise pulumi.RunError(
            f"meshbridge outputsVersion {version!r} is not supported (expected {SUPPORTED_OUTPUTS_VERSION})"
        )
    return SUPPORTED_OUTPUTS_VERSION


version = mesh.get_output("outputsVersion").apply(_checked)
clusters = mesh.get_output("clusters")
this = clusters.apply(lambda c: c[cluster])

# optional: write the manifests to this folder instead of applying them (make e2e does); the
# Kubernetes provider then takes no context (it refuses one next to renderYamlToDirectory)
render_directory = config.get("renderYamlToDirectory")
provider = k8s.Provider(
    "target",
    context=None if render_directory else config.require("kubeContext"),
    cluster_identifier=cluster,
    render_yaml_to_directory=render_directory,
)
namespace = k8s.core.v1.Namespace(
    "vm-workloads",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="vm-workloads"),
    opts=pulumi.ResourceOptions(provider=provider),
)
bundle = k8s.core.v1.ConfigMap(
    "mesh-trust-bundle",
    metadata=k8s.meta.v1.ObjectMetaArgs(
        name="mesh-trust-bundle",
        namespace="vm-workloads",
        labels={"mesh-id": mesh.get_output("mesh").apply(lambda m: m["id"])},
    ),
    data={
        "root-cert.pem": pulumi.Output.all(version, mesh.get_output("rootCertificatePem")).apply(lambda a: a[1]),
        "network": this.apply(lambda c: c["network"]),
    },
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[namespace]),
)

pulumi.export("network", this.apply(lambda c: c["network"]))
pulumi.export("gatewayAddresses", this.apply(lambda c: c["gatewayAddresses"]))
pulumi.export("importedHosts", this.apply(lambda c: sorted(c["importedHosts"])))
