// Command meshbridge-apiserver runs a real Kubernetes API server (with an
// embedded etcd) in one process for end-to-end tests, and applies manifest
// directories to it with server-side apply.
//
// Usage:
//
//	meshbridge-apiserver --kubeconfig-out PATH [-- KUBE-APISERVER-FLAGS...]
//	meshbridge-apiserver apply --kubeconfig PATH DIR...
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "apply" {
		os.Exit(runApply(os.Args[2:]))
	}
	if err := runServer(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "meshbridge-apiserver:", err)
		os.Exit(1)
	}
}
