"""make e2e only: stands for the project that built a cluster (docs/configuration.md, `infraStack`).

It exports the cluster's kubeconfig as a secret output, from its secret config `kubeconfig`, and,
when set (the istiod phase: tools/e2e/istiod.py), the API server's URL and CA as an EKS project
exports `clusterEndpoint` and `certificateAuthority.data`. make e2e runs one stack of it per cluster
that takes its kubeconfig from there (cluster-b, cluster-c); the e2e mesh stack maps them with
`infraStack.outputs` and reads them through a real StackReference (tools/e2e/run.py).
"""

import pulumi

config = pulumi.Config()
pulumi.export("kubeconfig", config.require_secret("kubeconfig"))
for key in ("apiServerEndpoint", "apiServerCa"):
    value = config.get(key)
    if value:
        pulumi.export(key, value)
