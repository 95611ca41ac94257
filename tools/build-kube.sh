#!/usr/bin/env bash
# Builds meshbridge-apiserver (tools/kube: kube-apiserver of k8s.io/kubernetes and an embedded etcd in
# one process, plus `apply`) once per source version into ~/.cache/meshbridge/kube/<hash>/
# (MESHBRIDGE_CACHE moves it) and prints its path. make e2e applies the written manifests with it.
exec bash "$(dirname "$0")/build-go.sh" kube tools/kube . meshbridge-apiserver
