// Command meshbridge-apiserver runs a real Kubernetes API server (with an
// embedded etcd) in one process for end-to-end tests: make e2e starts one per
// cluster and Pulumi's Kubernetes provider applies the program to them.
//
// Usage:
//
//	meshbridge-apiserver --kubeconfig-out PATH [--data-dir DIR] [--address IP] [-- KUBE-APISERVER-FLAGS...]
//
// The same module pins kube-controller-manager of the same k8s.io/kubernetes (go.mod, `tool`):
// tools/build-kube.sh builds both.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := runServer(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "meshbridge-apiserver:", err)
		os.Exit(1)
	}
}
