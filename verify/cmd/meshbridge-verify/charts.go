package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"istio.io/istio/operator/pkg/helm"
	"sigs.k8s.io/yaml"
)

// chartDirs maps a chart name (as meshbridge installs it) to its directory under manifests/charts of
// the istio.io/istio module.
var chartDirs = map[string]string{
	"base":    "base",
	"istiod":  "istio-control/istio-discovery",
	"gateway": "gateway",
}

var unsafeFile = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// extraChart is a chart of another project meshbridge installs (cert-manager), prepared from its
// pinned Go module by synth/charts.py: its folder and the one version the judge renders.
type extraChart struct {
	Dir     string `json:"dir"`
	Version string `json:"version"`
}

// extraCharts reads $MESHBRIDGE_CHARTS (JSON: chart name -> {dir, version}; synth/verify.py sets it).
func extraCharts() map[string]extraChart {
	charts := map[string]extraChart{}
	if v := os.Getenv("MESHBRIDGE_CHARTS"); v != "" {
		_ = json.Unmarshal([]byte(v), &charts)
	}
	return charts
}

// renderRelease renders one release: Istio's charts with Istio's own Helm renderer, the others
// (extraCharts) with Helm's library as `helm template --include-crds` does.
func renderRelease(r HelmRelease, extra map[string]extraChart) ([]map[string]any, error) {
	if dir, ok := chartDirs[r.Chart]; ok {
		iop := map[string]any{"spec": map[string]any{"values": r.Values}}
		manifests, _, err := helm.Render(r.Release, r.Namespace, dir, iop, nil)
		if err != nil {
			return nil, fmt.Errorf("Istio's chart %s does not render with these values: %w", r.Chart, err)
		}
		objs := make([]map[string]any, 0, len(manifests))
		for _, m := range manifests {
			objs = append(objs, m.Unstructured.Object)
		}
		return objs, nil
	}
	c, ok := extra[r.Chart]
	if !ok {
		return nil, fmt.Errorf("chart %q is neither one of Istio's charts nor a chart the judge was given (MESHBRIDGE_CHARTS)", r.Chart)
	}
	if r.Version != c.Version {
		return nil, fmt.Errorf("chart %s %s: the judge renders the pinned version %s only", r.Chart, r.Version, c.Version)
	}
	vals := map[string]any{}
	for k, v := range r.Values {
		vals[k] = v
	}
	objs, err := helmTemplate(c.Dir, r.Release, r.Namespace, vals, true, r.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s does not render with these values: %w", r.Chart, r.Version, err)
	}
	return objs, nil
}

// renderCharts renders every release of a cluster (renderRelease) with the values meshbridge passes, writes each object to clusters/<c>/helm/<release>/rendered/ and returns them.
func renderCharts(out, cluster string, releases []HelmRelease) (map[string][]Object, []string) {
	rendered := map[string][]Object{}
	var problems []string
	extra := extraCharts()
	for _, r := range releases {
		manifests, err := renderRelease(r, extra)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: helm release %s: %v", cluster, r.Release, err))
			continue
		}
		target := filepath.Join(out, "clusters", cluster, "helm", r.Release, "rendered")
		_ = os.RemoveAll(target)
		if err := os.MkdirAll(target, 0o755); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		seen := map[string]bool{}
		for _, obj := range manifests {
			o := Object{Obj: obj}
			if !r.Keeps(o) {
				continue
			}
			parts := []string{strings.ToLower(o.Kind())}
			if o.Namespace() != "" {
				parts = append(parts, o.Namespace())
			}
			parts = append(parts, o.Name())
			name := unsafeFile.ReplaceAllString(strings.Join(parts, "."), "_") + ".yaml"
			for seen[name] {
				name = "_" + name
			}
			seen[name] = true
			o.File = filepath.Join(target, name)
			b, err := yaml.Marshal(obj)
			if err == nil {
				err = os.WriteFile(o.File, b, 0o644)
			}
			if err != nil {
				problems = append(problems, err.Error())
			}
			rendered[r.Release] = append(rendered[r.Release], o)
		}
	}
	return rendered, problems
}

func findObject(objs []Object, kind, name string) *Object {
	for i := range objs {
		if objs[i].Kind() == kind && (name == "" || objs[i].Name() == name) {
			return &objs[i]
		}
	}
	return nil
}

func releaseByChart(releases []HelmRelease, chart string) *HelmRelease {
	for i := range releases {
		if releases[i].Chart == chart && !releases[i].IsTag() {
			return &releases[i]
		}
	}
	return nil
}

func releaseByName(releases []HelmRelease, name string) *HelmRelease {
	for i := range releases {
		if releases[i].Release == name {
			return &releases[i]
		}
	}
	return nil
}

// istiodReleases: every control plane revision's istiod release (revision tags apart).
func istiodReleases(releases []HelmRelease) []*HelmRelease {
	var found []*HelmRelease
	for i := range releases {
		if releases[i].Chart == "istiod" && !releases[i].IsTag() {
			found = append(found, &releases[i])
		}
	}
	return found
}

// revisioned is a chart object's name for a revision: `istiod` -> `istiod-<revision>`.
func revisioned(name, revision string) string {
	if revision == "" {
		return name
	}
	return name + "-" + revision
}

// checkCharts compares the rendered charts with the objects meshbridge renders beside them.
func checkCharts(cluster string, decl *Declaration, objs []Object, releases []HelmRelease, rendered map[string][]Object) []string {
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, cluster+": "+fmt.Sprintf(format, args...))
	}
	var network string
	for _, c := range decl.Clusters {
		if c.Name == cluster {
			network = c.Network
		}
	}

	problems = append(problems, checkCertManager(cluster, objs, releases, rendered)...)
	for _, istiod := range istiodReleases(releases) {
		if str(istiod.Values, "profile") == "remote" {
			problems = append(problems, checkRemoteProfile(cluster, network, istiod, rendered[istiod.Release])...)
			continue
		}
		robjs := rendered[istiod.Release]
		depName, cmName := revisioned("istiod", istiod.Revision()), revisioned("istio", istiod.Revision())
		dep := findObject(robjs, "Deployment", depName)
		cm := findObject(robjs, "ConfigMap", cmName)
		if dep == nil || cm == nil {
			fail("Istio's istiod chart rendered no Deployment %s or ConfigMap %s", depName, cmName)
		} else {
			env := containerEnv(dep.Obj)
			if env["CLUSTER_ID"] != cluster {
				fail("rendered Deployment istio-system/%s: CLUSTER_ID is %q, expected the cluster name %q", depName, env["CLUSTER_ID"], cluster)
			}
			var mesh map[string]any
			if err := yaml.Unmarshal([]byte(str(cm.Obj, "data", "mesh")), &mesh); err != nil {
				fail("rendered ConfigMap istio: mesh is not YAML: %v", err)
			}
			if td, _ := mesh["trustDomain"].(string); td != decl.TrustDomain {
				fail("rendered ConfigMap istio: trustDomain is %q, expected %q", td, decl.TrustDomain)
			}
			meshID := str(sub(mesh, "defaultConfig"), "meshId")
			wantMesh := str(istiod.Values, "global", "meshID")
			if wantMesh == "" || meshID != wantMesh {
				fail("rendered ConfigMap istio: defaultConfig.meshId is %q, expected global.meshID %q", meshID, wantMesh)
			}
			netVal := str(istiod.Values, "global", "network")
			if netVal != network {
				fail("helm istiod: global.network is %q, the cluster's network is %q", netVal, network)
			}
			if net := str(sub(mesh, "defaultConfig", "proxyMetadata"), "ISTIO_META_NETWORK"); net != "" && net != network {
				fail("rendered mesh config: ISTIO_META_NETWORK %q, expected %q", net, network)
			}
		}
	}

	problems = append(problems, checkDefaultInjector(cluster, releases, rendered)...)

	// every Istio Gateway binds to the pods of an installed gateway chart
	var gwPods []map[string]string
	for _, r := range releases {
		if r.Chart == "gateway" {
			if dep := findObject(rendered[r.Release], "Deployment", ""); dep != nil {
				gwPods = append(gwPods, stringMap(sub(dep.Obj, "spec", "template", "metadata")["labels"]))
			}
		}
	}
	for _, o := range objs {
		if o.Kind() != "Gateway" || !o.IsIstio() {
			continue
		}
		sel := stringMap(o.Spec()["selector"])
		bound := false
		for _, labels := range gwPods {
			bound = bound || selects(sel, labels)
		}
		if !bound {
			fail("%s exists but no gateway chart is installed whose pods it selects (%s)", o.Describe(), sortedMap(sel))
		}
	}
	gwRel := releaseByName(releases, "istio-eastwestgateway")
	gatewayObj := findObject(objs, "Gateway", "cross-network-gateway")
	if gwRel == nil {
		return problems
	}
	robjs := rendered[gwRel.Release]
	svc := findObject(robjs, "Service", "")
	dep := findObject(robjs, "Deployment", "")
	if svc == nil || dep == nil {
		fail("Istio's gateway chart rendered no Service or Deployment for release %s", gwRel.Release)
		return problems
	}
	ports := map[int]string{}
	for _, p := range list(svc.Obj, "spec", "ports") {
		pm, _ := p.(map[string]any)
		ports[number(pm["port"])] = str(pm, "name")
	}
	if name, ok := ports[15443]; !ok || !strings.HasPrefix(name, "tls") {
		fail("rendered Service %s/%s does not expose 15443 as a tls port (ports %v)", svc.Namespace(), svc.Name(), ports)
	}
	if _, ok := ports[15021]; !ok {
		fail("rendered Service %s/%s does not expose the status port 15021", svc.Namespace(), svc.Name())
	}
	podLabels := stringMap(sub(dep.Obj, "spec", "template", "metadata")["labels"])
	svcSel := stringMap(sub(svc.Obj, "spec")["selector"])
	for k, v := range svcSel {
		if podLabels[k] != v {
			fail("rendered Service %s selects %s=%s, which the gateway pods do not carry", svc.Name(), k, v)
		}
	}
	if gatewayObj != nil {
		gwSel := stringMap(gatewayObj.Spec()["selector"])
		for k, v := range gwSel {
			if podLabels[k] != v || svcSel[k] != v {
				fail("%s selects %s=%s, but the gateway chart's pods carry %v and its Service selects %v", gatewayObj.Describe(), k, v, sortedMap(podLabels), sortedMap(svcSel))
			}
		}
	}
	if tgb := findObject(objs, "TargetGroupBinding", ""); tgb != nil {
		ref := sub(tgb.Spec(), "serviceRef")
		if str(ref, "name") != svc.Name() {
			fail("%s: serviceRef.name %q is not the gateway chart's Service %q", tgb.Describe(), str(ref, "name"), svc.Name())
		}
		if _, ok := ports[number(ref["port"])]; !ok {
			fail("%s: serviceRef.port %v is not a port of the rendered Service %s (%v)", tgb.Describe(), ref["port"], svc.Name(), ports)
		}
	}
	return problems
}

func containerEnv(dep map[string]any) map[string]string {
	env := map[string]string{}
	for _, c := range list(dep, "spec", "template", "spec", "containers") {
		cm, _ := c.(map[string]any)
		for _, e := range list(cm, "env") {
			em, _ := e.(map[string]any)
			if v, ok := em["value"].(string); ok {
				env[str(em, "name")] = v
			}
		}
	}
	return env
}

func sortedMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// checkRemoteProfile: a remote cluster of primary-remote runs no istiod; Istio's remote profile
// renders the `istiod` Service as the primary's gateway address and points the injection webhook
// at it with this cluster's name and network in the path.
func checkRemoteProfile(cluster, network string, istiod *HelmRelease, robjs []Object) []string {
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, cluster+": "+fmt.Sprintf(format, args...))
	}
	if dep := findObject(robjs, "Deployment", "istiod"); dep != nil {
		fail("the remote profile still renders %s", dep.Describe())
	}
	addr := str(istiod.Values, "global", "remotePilotAddress")
	svc := findObject(robjs, "Service", "istiod")
	switch {
	case addr == "":
		fail("helm istiod: profile remote without global.remotePilotAddress")
	case svc == nil:
		fail("Istio's remote profile rendered no Service istiod")
	case str(svc.Spec(), "type") != "ExternalName" || str(svc.Spec(), "externalName") != addr:
		fail("rendered Service istiod is %s %q, expected ExternalName %q (the primary's gateway)", str(svc.Spec(), "type"), str(svc.Spec(), "externalName"), addr)
	}
	want := "/inject/cluster/" + cluster + "/net/" + network
	mwc := findObject(robjs, "MutatingWebhookConfiguration", "")
	if mwc == nil {
		fail("Istio's remote profile rendered no injection webhook")
		return problems
	}
	for _, w := range list(mwc.Obj, "webhooks") {
		wm, _ := w.(map[string]any)
		ref := sub(wm, "clientConfig", "service")
		if str(ref, "name") != "istiod" || str(ref, "path") != want {
			fail("rendered %s webhook %s calls service %q path %q, expected istiod %q", mwc.Describe(), str(wm, "name"), str(ref, "name"), str(ref, "path"), want)
		}
	}
	return problems
}

// checkDefaultInjector: with an istiod of its own, exactly one webhook of the cluster injects pods of
// namespaces labelled istio-injection=enabled: the unrevisioned istiod's `istio-sidecar-injector`
// or the `default` revision tag, never both (with revisions side by side both would inject, and
// the first to run wins), and not none (such pods would start without a sidecar).
func checkDefaultInjector(cluster string, releases []HelmRelease, rendered map[string][]Object) []string {
	own := false
	for _, r := range istiodReleases(releases) {
		if str(r.Values, "profile") != "remote" {
			own = true
		}
	}
	if !own {
		return nil
	}
	var injectors []string
	for _, r := range releases {
		for _, o := range rendered[r.Release] {
			if o.Kind() != "MutatingWebhookConfiguration" {
				continue
			}
			for _, w := range list(o.Obj, "webhooks") {
				wm, _ := w.(map[string]any)
				for _, e := range list(wm, "namespaceSelector", "matchExpressions") {
					em, _ := e.(map[string]any)
					if str(em, "key") == "istio-injection" && str(em, "operator") == "In" {
						injectors = append(injectors, o.Name()+" ("+r.Release+")")
					}
				}
			}
		}
	}
	if len(injectors) != 1 {
		return []string{fmt.Sprintf("%s: %d webhooks inject namespaces labelled istio-injection=enabled, expected one: %v", cluster, len(injectors), injectors)}
	}
	return nil
}

// crdCharts: the API group of each kind of cert-manager object meshbridge renders, and the chart
// whose release installs that group's CRDs (ca.backend cert-manager and aws-pca).
var crdCharts = map[string]string{
	"cert-manager.io":        "cert-manager",
	"awspca.cert-manager.io": "aws-privateca-issuer",
}

// checkCertManager: where the tree holds cert-manager objects (ca.backend cert-manager or aws-pca),
// a release of the chart that owns their group (crdCharts) rendered in the cluster installs the CRD
// of each of their kinds (the objects are refused by the API server otherwise), and every istiod
// mounts the Secret the Certificate writes (cacerts) at /etc/cacerts, where istiod looks for
// tls.crt, tls.key and ca.crt.
func checkCertManager(cluster string, objs []Object, releases []HelmRelease, rendered map[string][]Object) []string {
	var problems []string
	kinds := map[string]map[string]bool{} // group -> kinds
	var certificates []Object
	for _, o := range objs {
		group := strings.SplitN(o.APIVersion(), "/", 2)[0]
		if _, ok := crdCharts[group]; !ok || !strings.Contains(o.APIVersion(), "/") {
			continue
		}
		if kinds[group] == nil {
			kinds[group] = map[string]bool{}
		}
		kinds[group][o.Kind()] = true
		if group == "cert-manager.io" && o.Kind() == "Certificate" {
			certificates = append(certificates, o)
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	for _, r := range releases {
		for group, chart := range crdCharts {
			if r.Chart != chart || len(kinds[group]) == 0 {
				continue
			}
			crds := map[string]bool{}
			for _, o := range rendered[r.Release] {
				if o.Kind() == "CustomResourceDefinition" && str(o.Obj, "spec", "group") == group {
					crds[str(o.Obj, "spec", "names", "kind")] = true
				}
			}
			for kind := range kinds[group] {
				if !crds[kind] {
					problems = append(problems, fmt.Sprintf("%s: helm release %s renders no CustomResourceDefinition for %s %s", cluster, r.Release, group, kind))
				}
			}
		}
	}
	for _, cert := range certificates {
		if cert.Namespace() != "istio-system" {
			continue
		}
		secret := str(cert.Obj, "spec", "secretName")
		for _, istiod := range istiodReleases(releases) {
			if str(istiod.Values, "profile") == "remote" {
				continue
			}
			dep := findObject(rendered[istiod.Release], "Deployment", revisioned("istiod", istiod.Revision()))
			if dep == nil {
				continue // reported by checkCharts
			}
			if !mountsSecret(dep.Obj, secret, "/etc/cacerts") {
				problems = append(problems, fmt.Sprintf("%s: rendered Deployment istio-system/%s does not mount Secret %s (written by %s) at /etc/cacerts", cluster, dep.Name(), secret, cert.Describe()))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// mountsSecret reports whether a Deployment's pod mounts Secret `secret` at `path` in some container.
func mountsSecret(dep map[string]any, secret, path string) bool {
	volumes := map[string]bool{}
	for _, v := range list(dep, "spec", "template", "spec", "volumes") {
		vm, _ := v.(map[string]any)
		if str(vm, "secret", "secretName") == secret {
			volumes[str(vm, "name")] = true
		}
	}
	for _, c := range list(dep, "spec", "template", "spec", "containers") {
		cm, _ := c.(map[string]any)
		for _, m := range list(cm, "volumeMounts") {
			mm, _ := m.(map[string]any)
			if volumes[str(mm, "name")] && str(mm, "mountPath") == path {
				return true
			}
		}
	}
	return false
}
