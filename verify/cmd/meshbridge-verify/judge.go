package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	istiolog "istio.io/istio/pkg/log"
)

// Accepted is one analyzer message the project accepts, with its reason (verify/accepted-analysis.yaml).
type Accepted struct {
	Code     string `json:"code"`
	Resource string `json:"resource"` // regular expression on the message's origin
	Reason   string `json:"reason"`
}

type analysisMessage struct {
	Code    string `json:"code"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Origin  string `json:"origin"`
}

func loadAccepted() ([]Accepted, error) {
	path := os.Getenv("MESHBRIDGE_ACCEPTED_ANALYSIS")
	if path == "" {
		return nil, nil
	}
	var out []Accepted
	if err := readYAML(path, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for i, a := range out {
		if a.Code == "" || strings.TrimSpace(a.Reason) == "" {
			return nil, fmt.Errorf("%s: entry %d needs a code and a reason", path, i)
		}
	}
	return out, nil
}

// runSelf runs this binary's istioctl (Istio's own command line) in a child process, so that its
// package-level flag state starts fresh each time.
func runSelf(args ...string) (string, int) {
	exe, err := os.Executable()
	if err != nil {
		return err.Error(), 1
	}
	cmd := exec.Command(exe, append([]string{"istioctl"}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return err.Error(), 1
	}
	return buf.String(), code
}

func writeTemp(dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
	return p
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// validateIstio runs `istioctl validate` (the admission webhook's validation) on every Istio object.
func validateIstio(cluster string, objs []Object, tmp string) []string {
	var args []string
	for i, o := range objs {
		if !o.IsIstio() {
			continue
		}
		args = append(args, "-f", writeTemp(tmp, fmt.Sprintf("validate-%03d-%s", i, filepath.Base(o.File)), toYAML(o.Obj)))
	}
	if len(args) == 0 {
		return nil
	}
	out, code := runSelf(append([]string{"validate", "--referential=false"}, args...)...)
	if code == 0 {
		return nil
	}
	var problems []string
	for _, line := range strings.Split(ansi.ReplaceAllString(out, ""), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Error: one or more errors occurred") {
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: istioctl validate: %s", cluster, strings.ReplaceAll(line, tmp+"/", "")))
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("%s: istioctl validate exited %d: %s", cluster, code, out))
	}
	return problems
}

// analyze runs `istioctl analyze` offline over the cluster's whole tree, the real charts' objects
// and the stand-in workloads.
func analyze(cluster string, objs []Object, rendered map[string][]Object, stand *standIns, meshConfig string, tmp string, accepted []Accepted) ([]string, []string) {
	dir := filepath.Join(tmp, "analyze")
	_ = os.MkdirAll(dir, 0o755)
	var files []string
	add := func(content string) {
		files = append(files, writeTemp(dir, fmt.Sprintf("%04d.yaml", len(files)), content))
	}
	for _, o := range objs {
		add(toYAML(o.Obj))
	}
	releases := make([]string, 0, len(rendered))
	for r := range rendered {
		releases = append(releases, r)
	}
	sort.Strings(releases)
	for _, r := range releases {
		for _, o := range rendered[r] {
			if o.Kind() == "CustomResourceDefinition" {
				continue
			}
			add(toYAML(o.Obj))
		}
	}
	for _, s := range stand.objects {
		add(s)
	}
	args := []string{"analyze", "--use-kube=false", "-A", "-o", "json", "--failure-threshold", "Error", "--output-threshold", "Info"}
	if meshConfig != "" {
		args = append(args, "--meshConfigFile", writeTemp(tmp, "mesh.yaml", meshConfig))
	}
	args = append(args, files...)
	out, code := runSelf(args...)
	start := strings.Index(out, "[")
	var msgs []analysisMessage
	if start < 0 || json.Unmarshal([]byte(out[start:]), &msgs) != nil {
		if code != 0 {
			return []string{fmt.Sprintf("%s: istioctl analyze exited %d: %s", cluster, code, out)}, nil
		}
		return nil, nil
	}
	var problems, notes []string
	for _, m := range msgs {
		line := fmt.Sprintf("%s: istioctl analyze %s [%s] %s: %s", cluster, m.Level, m.Code, m.Origin, m.Message)
		if m.Level == "Error" {
			problems = append(problems, line)
			continue
		}
		ok := m.Level == "Info"
		for _, a := range accepted {
			if a.Code == m.Code && regexp.MustCompile("^(?:"+a.Resource+")$").MatchString(m.Origin) {
				ok = true
				line += " (accepted: " + strings.TrimSpace(a.Reason) + ")"
			}
		}
		if ok {
			notes = append(notes, line)
		} else {
			problems = append(problems, line+" (not in verify/accepted-analysis.yaml)")
		}
	}
	return problems, notes
}

func judgeMain(out string) int {
	decl, err := readDeclaration(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshbridge-verify:", err)
		return 2
	}
	accepted, err := loadAccepted()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshbridge-verify:", err)
		return 2
	}
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	tmp, err := os.MkdirTemp("", "meshbridge-verify-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(tmp)

	var problems, notes []string
	pathOK := make([]bool, len(decl.Paths))
	ingressRoutes := 0 // ingress gateway routes pilot computed as the VirtualServices declare
	routeRules := 0    // services[].routing rules pilot computed as configured, per caller and port
	for i := range pathOK {
		pathOK[i] = true
	}
	// the Istio objects and mesh config of each cluster another one's istiod serves from (primary-
	// remote's primary), kept from its own turn: those clusters are judged first
	served := map[string]*istioConfig{}
	for _, dc := range decl.Clusters {
		if dc.IstioConfigFrom != "" {
			served[dc.IstioConfigFrom] = nil
		}
	}
	for _, ci := range configFirst(decl.Clusters) {
		dc := decl.Clusters[ci]
		objs, releases, err := readCluster(out, dc.Name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		rendered, ps := renderCharts(out, dc.Name, releases)
		problems = append(problems, ps...)
		problems = append(problems, checkCharts(dc.Name, decl, objs, releases, rendered)...)
		ctmp := filepath.Join(tmp, dc.Name)
		_ = os.MkdirAll(ctmp, 0o755)
		problems = append(problems, validateIstio(dc.Name, objs, ctmp)...)
		// what the istiod serving this cluster reads: its own Istio objects, or the primary's for a
		// remote of primary-remote (its own are ignored), beside its own Kubernetes objects
		var config *istioConfig
		if dc.IstioConfigFrom != "" {
			config = served[dc.IstioConfigFrom]
			if config == nil {
				problems = append(problems, fmt.Sprintf("%s: its Istio configuration is read from %s, which could not be judged", dc.Name, dc.IstioConfigFrom))
				continue
			}
			objs = append(withoutIstio(objs), config.objs...)
		}
		// the status istiod's IP allocation controller writes, for pilot and the analyzers alike
		problems = append(problems, allocateAddresses(dc.Name, serviceEntries(objs, rendered))...)

		var istioYAML, kubeYAML []string
		var treeServices []Object
		treeNames := map[string]bool{}
		for _, o := range objs {
			switch {
			case o.IsIstio():
				istioYAML = append(istioYAML, toYAML(o.Obj))
			case o.Kind() == "Service":
				treeNames[o.Namespace()+"/"+o.Name()] = true
				treeServices = append(treeServices, o)
				kubeYAML = append(kubeYAML, toYAML(o.Obj))
			case o.Kind() == "Namespace":
				treeNames["namespace/"+o.Name()] = true
				kubeYAML = append(kubeYAML, toYAML(o.Obj))
			}
		}
		var gwSvc, gwDep, ingSvc, ingDep *Object
		// the mesh config pilot judges with: the default revision's istiod (base's defaultRevision);
		// with several revisions side by side their mesh configs are the same values
		meshConfig := ""
		defaultRevision := ""
		if base := releaseByChart(releases, "base"); base != nil && str(base.Values, "defaultRevision") != "default" {
			defaultRevision = str(base.Values, "defaultRevision")
		}
		for _, r := range releases {
			switch {
			case r.Chart == "gateway" && r.Release == ingressRelease:
				ingSvc = findObject(rendered[r.Release], "Service", "")
				ingDep = findObject(rendered[r.Release], "Deployment", "")
			case r.Chart == "gateway":
				gwSvc = findObject(rendered[r.Release], "Service", "")
				gwDep = findObject(rendered[r.Release], "Deployment", "")
			case r.Chart == "istiod" && !r.IsTag():
				cm := findObject(rendered[r.Release], "ConfigMap", revisioned("istio", r.Revision()))
				if cm != nil && (meshConfig == "" || r.Revision() == defaultRevision) {
					meshConfig = str(cm.Obj, "data", "mesh")
				}
			}
		}
		if config != nil {
			meshConfig = config.mesh
		}
		if _, ok := served[dc.Name]; ok {
			var own []Object
			for _, o := range objs {
				if o.IsIstio() {
					own = append(own, o)
				}
			}
			served[dc.Name] = &istioConfig{objs: own, mesh: meshConfig}
		}
		stand := buildStandIns(ci, dc.Name, decl, treeNames, treeServices, gwSvc, gwDep, ingSvc, ingDep)
		ap, an := analyze(dc.Name, objs, rendered, stand, meshConfig, ctmp, accepted)
		problems = append(problems, ap...)
		notes = append(notes, an...)
		kubeYAML = append(kubeYAML, stand.objects...)

		name := dc.Name
		network := dc.Network
		var clusterProblems []string
		if dbg := os.Getenv("MESHBRIDGE_VERIFY_DEBUG"); dbg != "" {
			_ = os.WriteFile(filepath.Join(dbg, name+"-kube.yaml"), []byte(strings.Join(kubeYAML, "\n---\n")), 0o644)
			_ = os.WriteFile(filepath.Join(dbg, name+"-istio.yaml"), []byte(strings.Join(istioYAML, "\n---\n")), 0o644)
		}
		errs := runJudged(func(t *failer) {
			j := newClusterJudge(t, name, network, dc.Locality, meshConfig, istioYAML, kubeYAML, stand, &clusterProblems)
			for i, p := range decl.Paths {
				// a discovered path has no import to judge in the consumer (one cluster at a time)
				if p.Consumer == name && !p.Discovery {
					for _, c := range p.Callers {
						if !j.checkConsumer(p, c) {
							pathOK[i] = false
						}
					}
				}
			}
			for i, p := range decl.Paths {
				if p.Producer == name && !p.Local && !j.checkGateway(p) {
					pathOK[i] = false
				}
			}
			for _, a := range decl.Authz {
				if a.Cluster != name {
					continue
				}
				before := len(clusterProblems)
				j.checkAuthz(a, decl.TrustDomain)
				if len(clusterProblems) > before {
					for i, p := range decl.Paths {
						if p.Producer == name && p.Namespace == a.Namespace && p.Service == a.Service && p.Port == a.Port {
							pathOK[i] = false
						}
					}
				}
			}
			for _, rd := range decl.Routes {
				if rd.Consumer != name {
					continue
				}
				for _, c := range routeCallers(decl.Paths, rd) {
					n, ok := j.checkRoutes(rd, c)
					routeRules += n
					if !ok {
						for i, p := range decl.Paths {
							if p.Consumer == rd.Consumer && p.Host == rd.Host && p.Port == rd.Port {
								pathOK[i] = false
							}
						}
					}
				}
			}
			j.checkCrossNamespace()
			ingressRoutes += j.checkIngress(objs)
		})
		for _, e := range errs {
			if first, _, cut := strings.Cut(e, "\n"); cut {
				e = first + " ..."
			}
			clusterProblems = append(clusterProblems, name+": Istio's pilot could not load this cluster's objects: "+e)
			for i, p := range decl.Paths {
				if p.Consumer == name || p.Producer == name {
					pathOK[i] = false
				}
			}
		}
		problems = append(problems, clusterProblems...)
	}
	sort.Strings(notes)
	report := []string{fmt.Sprintf("meshbridge-verify: judged %s with %s (pilot, charts, istioctl validate and analyze)", out, istioModuleVersion())}
	report = append(report, notes...)
	for _, p := range problems {
		report = append(report, "FAIL  "+p)
	}
	okPaths := 0
	for _, ok := range pathOK {
		if ok {
			okPaths++
		}
	}
	discovered := ""
	if n := countDiscovered(decl.Paths); n > 0 {
		discovered = fmt.Sprintf(" (%d through endpoint discovery: producer side only)", n)
	}
	if ingressRoutes > 0 {
		discovered += fmt.Sprintf("; %d ingress gateway routes", ingressRoutes)
	}
	if routeRules > 0 {
		discovered += fmt.Sprintf("; %d routing rules", routeRules)
	}
	report = append(report, fmt.Sprintf("istio judge: %d of %d declared paths computed by pilot as declared%s, %d problems", okPaths, len(decl.Paths), discovered, len(problems)))
	text := strings.Join(report, "\n") + "\n"
	_ = os.WriteFile(filepath.Join(out, "verify-report.txt"), []byte(strings.ReplaceAll(text, out, ".")), 0o644)
	fmt.Print(text)
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// istioConfig is what an istiod reads from the API server of the cluster it runs in: the Istio
// objects, and its mesh config.
type istioConfig struct {
	objs []Object
	mesh string
}

// configFirst is the order the clusters are judged in (indexes into clusters): those whose Istio
// configuration is their own first, then the remotes of primary-remote, which are served from it.
func configFirst(clusters []DeclCluster) []int {
	var first, then []int
	for i, c := range clusters {
		if c.IstioConfigFrom == "" {
			first = append(first, i)
		} else {
			then = append(then, i)
		}
	}
	return append(first, then...)
}

func withoutIstio(objs []Object) []Object {
	var out []Object
	for _, o := range objs {
		if !o.IsIstio() {
			out = append(out, o)
		}
	}
	return out
}

// serviceEntries are the cluster's ServiceEntries in the order they are applied: the tree's
// (files in name order), then any a chart renders.
func serviceEntries(objs []Object, rendered map[string][]Object) []Object {
	var out []Object
	isSE := func(o Object) bool { return o.IsIstio() && o.Kind() == "ServiceEntry" }
	for _, o := range objs {
		if isSE(o) {
			out = append(out, o)
		}
	}
	releases := make([]string, 0, len(rendered))
	for r := range rendered {
		releases = append(releases, r)
	}
	sort.Strings(releases)
	for _, r := range releases {
		for _, o := range rendered[r] {
			if isSE(o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// ingressRelease is the ingress gateway's Helm release (components/constants.py INGRESS_RELEASE).
const ingressRelease = "istio-ingressgateway"

func countDiscovered(paths []Path) int {
	n := 0
	for _, p := range paths {
		if p.Discovery {
			n++
		}
	}
	return n
}

// routeCallers: the consumer principals of a routed host and port (from its declared paths), each
// judged with its own sidecar (a Sidecar resource may give namespaces different views).
func routeCallers(paths []Path, rd RouteDecl) []Caller {
	seen := map[string]bool{}
	var out []Caller
	for _, p := range paths {
		if p.Consumer != rd.Consumer || p.Host != rd.Host || p.Port != rd.Port {
			continue
		}
		for _, c := range p.Callers {
			if !seen[c.Principal] {
				seen[c.Principal] = true
				out = append(out, c)
			}
		}
	}
	return out
}
