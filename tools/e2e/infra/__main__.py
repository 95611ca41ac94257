"""make e2e only: stands for the project that built a cluster (docs/configuration.md, `infraStack`).

It exports the cluster's kubeconfig as a secret output, from its secret config `kubeconfig`. make e2e
runs one stack of it per cluster that takes its kubeconfig from there (cluster-b, cluster-c); the e2e
mesh stack maps it with `infraStack.outputs.kubeconfig` and reads it through a real StackReference
(tools/e2e/run.py).
"""

import pulumi

config = pulumi.Config()
pulumi.export("kubeconfig", config.require_secret("kubeconfig"))
