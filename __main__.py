"""meshbridge: wire EKS clusters into one Istio mesh over private links (see README.md)."""

from stacks.config.load import load_stack_config
from stacks.mesh import build_mesh
from stacks.outputs import export_outputs

export_outputs(build_mesh(load_stack_config()))
