#!/usr/bin/env bash
# Builds, from the tools/kube module (one k8s.io/kubernetes pin), once per source version into
# ~/.cache/meshbridge/kube/<hash>/ (MESHBRIDGE_CACHE moves it):
# - meshbridge-apiserver: kube-apiserver and an embedded etcd in one process (make e2e starts one
#   per cluster);
# - kube-controller-manager: the module's own command (go.mod `tool`), which the istiod phase of
#   make e2e runs beside its API servers (token Secrets, namespace deletion, garbage collection).
# Prints the two paths, one per line (the API server first).
set -euo pipefail
here=$(dirname "$0")
bash "$here/build-go.sh" kube tools/kube . meshbridge-apiserver
bash "$here/build-go.sh" kube tools/kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager
