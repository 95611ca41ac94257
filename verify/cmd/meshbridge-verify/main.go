// meshbridge-verify judges a synth output tree with Istio's own code (docs/architecture.md,
// "Verification"):
//
//	meshbridge-verify judge OUT_DIR     render the real charts, check chart facts, compute the Envoy
//	                                    configuration of every declared path with Istio's pilot
//	meshbridge-verify istioctl ARGS...  Istio's own istioctl command line (validate, analyze), in-process
//	meshbridge-verify helm-template ... `helm template` of a local chart with Helm's library, as JSON
//
// Nothing here is meshbridge's idea of Istio: charts come from the istio.io/istio module's embedded
// manifests, Envoy configuration from pilot's config generator, validation and analysis from istioctl,
// ServiceEntry addresses from istiod's own IP allocation controller (ipallocate.go). Our code only
// loads the tree, adds stand-in workloads and compares what Istio computed with what the stack
// declared (judge.json, written by synth).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"istio.io/istio/istioctl/cmd"
	"istio.io/istio/pkg/log"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "istioctl":
		runIstioctl(os.Args[2:])
	case "judge":
		if len(os.Args) != 3 {
			usage()
		}
		os.Exit(profiled(func() int { return judgeMain(os.Args[2]) }))
	case "helm-template":
		os.Exit(helmTemplateMain(os.Args[2:]))
	case "version":
		fmt.Println(istioModuleVersion())
	default:
		usage()
	}
}

// profiled runs f, writing a CPU profile to $MESHBRIDGE_JUDGE_CPUPROFILE when it is set (`go tool
// pprof` reads it; docs/performance.md, "The judge at scale").
func profiled(f func() int) int {
	path := os.Getenv("MESHBRIDGE_JUDGE_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "MESHBRIDGE_JUDGE_CPUPROFILE: %v\n", err)
		return 2
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "MESHBRIDGE_JUDGE_CPUPROFILE: %v\n", err)
		return 2
	}
	defer pprof.StopCPUProfile()
	return f()
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: meshbridge-verify judge OUT_DIR | meshbridge-verify istioctl ARGS... | meshbridge-verify helm-template --chart DIR --release NAME --namespace NS [--values FILE] [--skip-crds] | meshbridge-verify version")
	os.Exit(64)
}

// runIstioctl is istioctl's own main, so `meshbridge-verify istioctl validate -f x` is istioctl.
func runIstioctl(args []string) {
	if err := cmd.ConfigAndEnvProcessing(); err != nil {
		fmt.Fprintf(os.Stderr, "Could not initialize: %v\n", err)
		os.Exit(cmd.GetExitCode(err))
	}
	rootCmd := cmd.GetRootCmd(args)
	log.EnableKlogWithCobra()
	if err := rootCmd.Execute(); err != nil {
		os.Exit(cmd.GetExitCode(err))
	}
	os.Exit(0)
}
