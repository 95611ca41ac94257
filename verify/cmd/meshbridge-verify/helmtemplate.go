package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// helmTemplateMain is `helm template` of a local chart directory with Helm's own library code, printed
// as one JSON array of objects:
//
//	meshbridge-verify helm-template --chart DIR --release NAME --namespace NS [--values FILE] [--skip-crds] [--kube-version V]
//
// The chart's crds/ first (unless --skip-crds), then the rendered templates in Helm's install order,
// then hooks, as `helm template --include-crds` prints them. Objects keep the namespace the chart gives
// them (none if it gives none). Exit 1 on a chart, values or template error, 2 on bad flags.
func helmTemplateMain(args []string) int {
	fs := flag.NewFlagSet("helm-template", flag.ContinueOnError)
	chartDir := fs.String("chart", "", "local chart directory")
	releaseName := fs.String("release", "", "release name")
	namespace := fs.String("namespace", "", "release namespace")
	valuesFile := fs.String("values", "", "JSON or YAML file of user values")
	skipCRDs := fs.Bool("skip-crds", false, "leave out the chart's crds/ directory")
	kubeVersion := fs.String("kube-version", "", "Kubernetes version the chart is rendered for (default: Helm's library default)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: meshbridge-verify helm-template --chart DIR --release NAME --namespace NS [--values FILE] [--skip-crds] [--kube-version V]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *chartDir == "" || *releaseName == "" || *namespace == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	var objs []map[string]any
	vals := chartutil.Values{}
	var err error
	if *valuesFile != "" {
		if vals, err = chartutil.ReadValuesFile(*valuesFile); err != nil {
			err = fmt.Errorf("values %s: %w", *valuesFile, err)
		}
	}
	if err == nil {
		objs, err = helmTemplate(*chartDir, *releaseName, *namespace, vals, !*skipCRDs, *kubeVersion)
	}
	if err == nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		err = enc.Encode(objs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-template:", err)
		return 1
	}
	return 0
}

// helmTemplate follows Helm's action.Install.RunWithContext and renderResources in client-only mode
// (helm.sh/helm/v3/pkg/action): load, process dependencies, coalesce and schema-check the values,
// render, sort into install order.
// kubeVersion, when given, is the Kubernetes version the chart sees (pulumi-kubernetes' kube_version).
func helmTemplate(dir, name, namespace string, vals chartutil.Values, includeCRDs bool, kubeVersion string) ([]map[string]any, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, err
	}
	if t := chrt.Metadata.Type; t != "" && t != "application" {
		return nil, fmt.Errorf("%s charts are not installable", t)
	}
	if err := chartutil.ProcessDependenciesWithMerge(chrt, vals); err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if kubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(kubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", kubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	if kv := chrt.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", kv, caps.KubeVersion.String())
	}
	opts := chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
	renderVals, err := chartutil.ToRenderValues(chrt, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, renderVals)
	if err != nil {
		return nil, err
	}
	// NOTES.txt is rendered like a template but is no resource; SortManifests skips '_' partials
	// and empty files.
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}

	objs := []map[string]any{}
	add := func(source, content string) error {
		docs := releaseutil.SplitManifests(content)
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(docs[k]), &obj); err != nil {
				return fmt.Errorf("%s: %w", source, err)
			}
			if obj != nil { // whitespace- or comment-only document
				objs = append(objs, obj)
			}
		}
		return nil
	}
	var errs []error
	if includeCRDs {
		for _, crd := range chrt.CRDObjects() {
			errs = append(errs, add(crd.Filename, string(crd.File.Data)))
		}
	}
	for _, m := range manifests {
		errs = append(errs, add(m.Name, m.Content))
	}
	for _, h := range hooks {
		errs = append(errs, add(h.Path, h.Manifest))
	}
	return objs, errors.Join(errs...)
}
