#!/usr/bin/env bash
# Builds, from the judge's module (verify/: one istio.io/istio pin), once per source version into
# ~/.cache/meshbridge/verify/<hash>/ (MESHBRIDGE_CACHE moves it):
# - pilot-discovery: Istio's own istiod command (go.mod `tool`), which the istiod phase of make e2e
#   runs against each primary cluster's API server;
# - meshbridge-csr: ours, asks that istiod for a workload certificate as a sidecar's agent does.
# Prints the two paths, one per line. Run it after tools/build-verify.sh (they share most packages:
# one after the other, the second reuses the Go build cache of the first).
set -euo pipefail
here=$(dirname "$0")
bash "$here/build-go.sh" verify verify istio.io/istio/pilot/cmd/pilot-discovery pilot-discovery
bash "$here/build-go.sh" verify verify ./cmd/meshbridge-csr meshbridge-csr
