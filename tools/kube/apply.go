package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

const fieldManager = "meshbridge-e2e"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applier applies unstructured objects with server-side apply.
type applier struct {
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	refused int
}

// runApply implements "apply --kubeconfig PATH DIR...": CRDs first (waiting
// for Established), then Namespaces, then everything else.
func runApply(args []string) int {
	fset := flag.NewFlagSet("apply", flag.ExitOnError)
	kubeconfig := fset.String("kubeconfig", "", "admin kubeconfig (required)")
	_ = fset.Parse(args)
	if *kubeconfig == "" || fset.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: meshbridge-apiserver apply --kubeconfig PATH DIR...")
		return 2
	}
	objs, err := readManifests(fset.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		return 1
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		return 1
	}
	cfg.QPS, cfg.Burst = 100, 200
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		return 1
	}
	a := &applier{dyn: dynamic.NewForConfigOrDie(cfg), mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	ctx := context.Background()

	var crds, namespaces, rest []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			fmt.Printf("skipped %s %s %s/%s: no webhook server\n", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
		case "CustomResourceDefinition":
			crds = append(crds, o)
		case "Namespace":
			namespaces = append(namespaces, o)
		default:
			rest = append(rest, o)
		}
	}

	for _, o := range crds {
		if a.apply(ctx, o) {
			if err := a.waitEstablished(ctx, o.GetName()); err != nil {
				a.refuse(o, err)
			}
		}
	}
	a.mapper.Reset() // pick up the new custom resource types
	for _, o := range namespaces {
		a.apply(ctx, o)
	}
	a.createMissingNamespaces(ctx, namespaces, rest)
	for _, o := range rest {
		a.apply(ctx, o)
	}
	if a.refused > 0 {
		return 1
	}
	return 0
}

// readManifests decodes every document of every *.yaml/*.yml file below
// dirs, in lexical path order.
func readManifests(dirs []string) ([]*unstructured.Unstructured, error) {
	var files []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	var objs []*unstructured.Unstructured
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				f.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if len(m) == 0 {
				continue // empty document
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs, nil
}

// mapping resolves the REST resource for o, refreshing discovery briefly in
// case a just-established CRD is not served yet.
func (a *applier) mapping(o *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := o.GroupVersionKind()
	var m *meta.RESTMapping
	var err error
	for i := 0; i < 10; i++ {
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil || !meta.IsNoMatchError(err) {
			return m, err
		}
		a.mapper.Reset()
		time.Sleep(500 * time.Millisecond)
	}
	return nil, err
}

// apply server-side-applies o and prints the outcome; it reports success.
func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured) bool {
	m, err := a.mapping(o)
	if err != nil {
		a.refuse(o, err)
		return false
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			o.SetNamespace(metav1.NamespaceDefault)
		}
		ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	} else {
		o.SetNamespace("")
	}
	_, err = ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		a.refuse(o, err)
		return false
	}
	fmt.Printf("applied %s %s %s/%s\n", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName())
	return true
}

func (a *applier) refuse(o *unstructured.Unstructured, err error) {
	a.refused++
	fmt.Printf("REFUSED %s %s %s/%s: %v\n", o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName(), err)
}

// waitEstablished waits until the named CRD has condition Established=True.
func (a *applier) waitEstablished(ctx context.Context, name string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := a.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// createMissingNamespaces applies a bare Namespace for every namespace that
// namespaced objects in objs refer to, that is not among the manifests and
// does not exist yet.
func (a *applier) createMissingNamespaces(ctx context.Context, declared, objs []*unstructured.Unstructured) {
	seen := map[string]bool{}
	for _, ns := range declared {
		seen[ns.GetName()] = true
	}
	nsResource := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	for _, o := range objs {
		name := o.GetNamespace()
		if name == "" || seen[name] {
			continue
		}
		if m, err := a.mapping(o); err != nil || m.Scope.Name() != meta.RESTScopeNameNamespace {
			continue // unknown or cluster-scoped kind: apply reports it later
		}
		seen[name] = true
		if _, err := a.dyn.Resource(nsResource).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			continue
		}
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(name)
		a.apply(ctx, ns)
	}
}
