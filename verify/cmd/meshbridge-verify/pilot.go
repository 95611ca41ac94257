package main

import (
	"fmt"
	"sort"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	httprbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	netrbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/model"
	netutil "istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/pkg/xds/endpoints"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	clusterid "istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/network"
	"istio.io/istio/pkg/test"
)

const (
	probeCallerNS = "mbverify-caller"
	probeTargetNS = "mbverify-target"
	probeTarget   = "mbverify-target"
	intruderNS    = "mbverify-intruder"
	istioVersion  = "1.30.3"
)

// standIns builds the Kubernetes objects pilot needs besides the tree: a Service, pods and an
// EndpointSlice per declared workload, the east-west gateway's pods, and an ordinary Service in a
// namespace of its own for the cross-namespace probe.
type standIns struct {
	objects []string
	pods    map[string]podInfo // namespace/pod -> info
	vms     map[string]podInfo // namespace/address -> a VM's proxy (meshbridge:workloads; no Pod object)
	gateway *podInfo           // the east-west gateway's pod
	ingress *podInfo           // the ingress gateway's pod (clusters with ingressGateway)
}

type podInfo struct {
	Name, Namespace, IP, SA string
	Labels                  map[string]string
}

// addresses hands out a cluster's stand-in addresses in order: pods in 10.(10+ci).0.0/16 from
// 10.(10+ci).1.10 on (10.(10+ci).0.x is the gateways'), Service ClusterIPs in 100.(64+ci).0.0/16
// from 100.(64+ci).1.1 on, never .0 or .255 in the last octet: about 65,000 of each per cluster
// (by workload and pod index, as before, a cluster ran out at 200 workloads or 245 pods of one).
type addresses struct {
	ci, pod, svc int
}

func (a *addresses) next(n *int, first, second int) string {
	for {
		v := *n
		*n++
		if last := v & 255; last != 0 && last != 255 {
			return fmt.Sprintf("%d.%d.%d.%d", first, second, v>>8, last)
		}
	}
}

func (a *addresses) podIP() string     { return a.next(&a.pod, 10, 10+a.ci) }
func (a *addresses) clusterIP() string { return a.next(&a.svc, 100, 64+a.ci) }

func buildStandIns(ci int, clusterName string, decl *Declaration, treeServices map[string]bool, services []Object, gwSvc, gwDep, ingSvc, ingDep *Object) *standIns {
	s := &standIns{pods: map[string]podInfo{}, vms: map[string]podInfo{}}
	addr := &addresses{ci: ci, pod: 1<<8 | 10, svc: 1<<8 | 1}
	namespaces := map[string]bool{probeCallerNS: true, probeTargetNS: true, intruderNS: true}
	addWorkload := func(ns, svc, sa string, selector map[string]string, ports []WorkloadPort, pods []string) {
		namespaces[ns] = true
		if !treeServices[ns+"/"+svc] {
			services = append(services, Object{Obj: map[string]any{"metadata": map[string]any{"name": svc, "namespace": ns},
				"spec": map[string]any{"selector": toAnyMap(selector), "ports": portsAny(ports)}}})
			var sp []string
			for _, p := range ports {
				sp = append(sp, fmt.Sprintf("  - name: %s\n    port: %d\n    targetPort: %d\n    protocol: TCP", p.Name, p.Port, p.TargetPort))
			}
			s.objects = append(s.objects, fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  clusterIP: %s\n  selector:\n%s\n  ports:\n%s\n",
				svc, ns, addr.clusterIP(), indentMap(selector, 4), strings.Join(sp, "\n")))
		}
		for _, pod := range pods {
			ip := addr.podIP()
			labels := map[string]string{"statefulset.kubernetes.io/pod-name": pod, "security.istio.io/tlsMode": "istio"}
			for k, v := range selector {
				labels[k] = v
			}
			s.pods[ns+"/"+pod] = podInfo{Name: pod, Namespace: ns, IP: ip, SA: sa, Labels: labels}
			s.objects = append(s.objects, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n%s\nspec:\n  serviceAccountName: %s\n  containers:\n  - name: app\n    image: stand-in\nstatus:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n  conditions:\n  - type: Ready\n    status: \"True\"\n",
				pod, ns, indentMap(labels, 4), sa, ip, ip))
		}
	}
	for _, w := range decl.Workloads {
		if w.Cluster != clusterName {
			continue
		}
		addWorkload(w.Namespace, w.Service, w.ServiceAccount, w.Selector, w.Ports, w.Pods)
		// a VM's proxy (no Pod: its WorkloadEntry is in the tree), for the checks of its sidecar
		for _, vm := range w.VMs {
			labels := map[string]string{"security.istio.io/tlsMode": "istio"}
			for k, v := range vm.Labels {
				labels[k] = v
			}
			s.vms[w.Namespace+"/"+vm.Address] = podInfo{Name: "vm-" + vm.Address, Namespace: w.Namespace, IP: vm.Address, SA: w.ServiceAccount, Labels: labels}
		}
	}
	addWorkload(probeTargetNS, probeTarget, "default", map[string]string{"app": probeTarget},
		[]WorkloadPort{{Name: "http", Port: 80, TargetPort: 8080, Protocol: "HTTP"}}, []string{probeTarget + "-0"})
	// a gateway chart's pod and Service (ClusterIP: no load balancer here), as the chart renders them
	gatewayStandIn := func(svcObj, dep *Object, octet int) *podInfo {
		labels := stringMap(sub(dep.Obj, "spec", "template", "metadata")["labels"])
		sa := str(dep.Obj, "spec", "template", "spec", "serviceAccountName")
		ip := fmt.Sprintf("10.%d.0.%d", 10+ci, octet)
		pod := &podInfo{Name: dep.Name() + "-0", Namespace: dep.Namespace(), IP: ip, SA: sa, Labels: labels}
		svc := copyMap(svcObj.Obj)
		spec := sub(svc, "spec")
		delete(svc, "status")
		spec["type"] = "ClusterIP"
		spec["clusterIP"] = fmt.Sprintf("100.%d.0.%d", 64+ci, octet)
		s.objects = append(s.objects, toYAML(svc))
		services = append(services, Object{Obj: svc})
		s.pods[pod.Namespace+"/"+pod.Name] = *pod
		s.objects = append(s.objects, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n%s\nspec:\n  serviceAccountName: %s\n  containers:\n  - name: istio-proxy\n    image: stand-in\nstatus:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n  conditions:\n  - type: Ready\n    status: \"True\"\n",
			pod.Name, pod.Namespace, indentMap(labels, 4), sa, ip, ip))
		return pod
	}
	if gwSvc != nil && gwDep != nil {
		s.gateway = gatewayStandIn(gwSvc, gwDep, 10)
	}
	if ingSvc != nil && ingDep != nil {
		s.ingress = gatewayStandIn(ingSvc, ingDep, 11)
	}
	for _, svc := range services {
		s.objects = append(s.objects, s.endpointSlice(svc)...)
	}
	nsList := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		nsList = append(nsList, ns)
	}
	sort.Strings(nsList)
	for _, ns := range nsList {
		if !treeServices["namespace/"+ns] {
			s.objects = append(s.objects, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns))
		}
	}
	return s
}

// endpointSlice is what Kubernetes' EndpointSlice controller writes for a Service: the ready pods
// its selector matches, on the target ports.
func (s *standIns) endpointSlice(svc Object) []string {
	sel := stringMap(svc.Spec()["selector"])
	if len(sel) == 0 {
		return nil
	}
	var names []string
	for key, pod := range s.pods {
		if pod.Namespace != svc.Namespace() {
			continue
		}
		match := true
		for k, v := range sel {
			if pod.Labels[k] != v {
				match = false
			}
		}
		if match {
			names = append(names, key)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	var eps, eports []string
	for _, key := range names {
		pod := s.pods[key]
		eps = append(eps, fmt.Sprintf("- addresses: [%q]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: %s, namespace: %s}", pod.IP, pod.Name, pod.Namespace))
	}
	for _, p := range list(svc.Obj, "spec", "ports") {
		pm, _ := p.(map[string]any)
		tp := number(pm["targetPort"])
		if tp <= 0 {
			tp = number(pm["port"])
		}
		eports = append(eports, fmt.Sprintf("- name: %q\n  port: %d\n  protocol: TCP", str(pm, "name"), tp))
	}
	return []string{fmt.Sprintf("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-standin\n  namespace: %s\n  labels:\n    kubernetes.io/service-name: %s\naddressType: IPv4\nendpoints:\n%s\nports:\n%s\n",
		svc.Name(), svc.Namespace(), svc.Name(), strings.Join(eps, "\n"), strings.Join(eports, "\n"))}
}

func copyMap(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			out[k] = copyMap(mm)
		} else {
			out[k] = v
		}
	}
	return out
}

func indentMap(m map[string]string, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s%q: %q", strings.Repeat(" ", n), k, m[k]))
	}
	if len(lines) == 0 {
		return strings.Repeat(" ", n) + "{}"
	}
	return strings.Join(lines, "\n")
}

// clusterJudge holds one cluster's fake Istio control plane.
type clusterJudge struct {
	name     string
	network  string
	locality string // region/zone of the cluster's nodes, as the node labels give every proxy
	fake     *xds.FakeDiscoveryServer
	stand    *standIns
	problems *[]string
	t        test.Failer
	mesh     *meshconfig.MeshConfig
	// each stand-in proxy and pilot's configuration for it, made once per identity (proxy): the
	// cluster's configuration does not change once the judge has started, so every path, caller,
	// rule or policy checked from the same proxy walks the same listeners, clusters and routes
	proxies map[string]*model.Proxy
	sims    map[*model.Proxy]*simulation.Simulation
}

// sim is pilot's Envoy configuration for one proxy, as the simulation package walks it (computed
// on the first call for that proxy; the simulation only reads it).
func (j *clusterJudge) sim(p *model.Proxy) *simulation.Simulation {
	if s, ok := j.sims[p]; ok {
		return s
	}
	l := j.fake.Listeners(p)
	s := &simulation.Simulation{Listeners: l, Clusters: j.fake.Clusters(p), Routes: j.fake.RoutesFromListeners(p, l)}
	j.sims[p] = s
	return s
}

// listenerSim is the proxy's listeners only, for inbound calls: the simulation of an inbound call
// reads the listeners alone (a sidecar's inbound HTTP routes are inline in its listener), and
// pilot's clusters of a proxy grow with every service of the mesh.
func (j *clusterJudge) listenerSim(p *model.Proxy) *simulation.Simulation {
	if s, ok := j.sims[p]; ok {
		return s
	}
	return &simulation.Simulation{Listeners: j.fake.Listeners(p)}
}

func (j *clusterJudge) fail(format string, args ...any) {
	*j.problems = append(*j.problems, fmt.Sprintf(format, args...))
}

func (j *clusterJudge) proxy(kind model.NodeType, ns, sa, ip string, labels map[string]string) *model.Proxy {
	key := fmt.Sprintf("%s|%s|%s|%s|%s", kind, ns, sa, ip, sortedMap(labels))
	if p, ok := j.proxies[key]; ok {
		return p
	}
	p := j.newProxy(kind, ns, sa, ip, labels)
	j.proxies[key] = p
	return p
}

func (j *clusterJudge) newProxy(kind model.NodeType, ns, sa, ip string, labels map[string]string) *model.Proxy {
	p := &model.Proxy{
		Type:            kind,
		IPAddresses:     []string{ip},
		ID:              "stand-in-" + ip + "." + ns,
		ConfigNamespace: ns,
		Labels:          labels,
		Metadata: &model.NodeMetadata{
			Namespace:      ns,
			ServiceAccount: sa,
			Labels:         labels,
			ClusterID:      clusterid.ID(j.name),
			Network:        network.ID(j.network),
			IstioVersion:   istioVersion,
		},
	}
	// a real proxy always has a locality: its node's topology.kubernetes.io/region and zone labels,
	// which istiod reads for the pod (pilot computes locality load balancing and failover from it)
	if j.locality != "" {
		p.Locality = netutil.ConvertLocality(j.locality)
	}
	// What the agent derives from meshConfig.defaultConfig.proxyMetadata (ISTIO_META_* variables).
	pm := j.mesh.GetDefaultConfig().GetProxyMetadata()
	p.Metadata.DNSCapture = model.StringBool(pm["ISTIO_META_DNS_CAPTURE"] == "true")
	p.Metadata.DNSAutoAllocate = model.StringBool(pm["ISTIO_META_DNS_AUTO_ALLOCATE"] == "true")
	return j.fake.SetupProxy(p)
}

// newClusterJudge starts Istio's fake discovery server on one cluster's objects, with the mesh
// config that the real istiod chart renders from meshbridge's values.
func newClusterJudge(t test.Failer, name, net, locality, meshYAML string, istioYAML []string, kubeYAML []string, stand *standIns, problems *[]string) *clusterJudge {
	m, err := mesh.ApplyMeshConfigDefaults(meshYAML)
	if err != nil {
		t.Fatalf("the rendered mesh config does not load: %v", err)
	}
	fake := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		DefaultClusterName:     clusterid.ID(name),
		ConfigString:           strings.Join(istioYAML, "\n---\n"),
		KubernetesObjectString: strings.Join(kubeYAML, "\n---\n"),
		MeshConfig:             m,
	})
	return &clusterJudge{name: name, network: net, locality: locality, fake: fake, stand: stand, problems: problems, t: t, mesh: m,
		proxies: map[string]*model.Proxy{}, sims: map[*model.Proxy]*simulation.Simulation{}}
}

func upstreamTLS(c *cluster.Cluster) *tlsv3.UpstreamTlsContext {
	ts := c.GetTransportSocket()
	if ts == nil {
		for _, m := range c.GetTransportSocketMatches() {
			if m.GetMatch().GetFields()["tlsMode"].GetStringValue() == "istio" {
				ts = m.GetTransportSocket()
			}
		}
	}
	if ts == nil || ts.GetTypedConfig() == nil {
		return nil
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil
	}
	return ctx
}

func sanMatchers(ctx *tlsv3.UpstreamTlsContext) []string {
	var out []string
	cvc := ctx.GetCommonTlsContext().GetCombinedValidationContext()
	for _, m := range cvc.GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
		out = append(out, m.GetMatcher().GetExact()+m.GetMatcher().GetPrefix())
	}
	for _, m := range cvc.GetDefaultValidationContext().GetMatchSubjectAltNames() {
		out = append(out, m.GetExact()+m.GetPrefix())
	}
	return out
}

func socketEndpoints(las []*endpoint.LocalityLbEndpoints) []string {
	var out []string
	for _, l := range las {
		for _, lb := range l.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa != nil {
				out = append(out, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (j *clusterJudge) clusterEndpoints(p *model.Proxy, c *cluster.Cluster) []string {
	return socketEndpoints(j.localityEndpoints(p, c))
}

// localityEndpoints: the cluster's endpoints by locality, from EDS or its own load assignment. The
// EDS answer is pilot's load assignment for this one cluster, built as the fake discovery server's
// Endpoints builds each (which would build every EDS cluster of the proxy, for every path).
func (j *clusterJudge) localityEndpoints(p *model.Proxy, c *cluster.Cluster) []*endpoint.LocalityLbEndpoints {
	if c.GetType() == cluster.Cluster_EDS {
		builder := endpoints.NewEndpointBuilder(c.GetName(), p, j.fake.PushContext())
		return builder.BuildClusterLoadAssignment(j.fake.Discovery.Env.EndpointIndex).GetEndpoints()
	}
	return c.GetLoadAssignment().GetEndpoints()
}

// checkFailover: the priorities pilot gives the cluster's endpoints by locality, for a consumer
// proxy in its cluster's locality: its own region first, the failover region next, the rest after
// (each group only where it has endpoints).
func (j *clusterJudge) checkFailover(p *model.Proxy, c *cluster.Cluster, path Path, where, name string) bool {
	fo := path.LocalityFailover
	own, to, rest := []uint32{}, []uint32{}, []uint32{}
	var seen []string
	for _, l := range j.localityEndpoints(p, c) {
		region := l.GetLocality().GetRegion()
		seen = append(seen, fmt.Sprintf("%s=%d", region, l.GetPriority()))
		switch {
		case region == fo.Region:
			own = append(own, l.GetPriority())
		case fo.To != "" && region == fo.To:
			to = append(to, l.GetPriority())
		default:
			rest = append(rest, l.GetPriority())
		}
	}
	sort.Strings(seen)
	before := func(a, b []uint32) bool { // every priority of a comes before every one of b
		for _, x := range a {
			for _, y := range b {
				if x >= y {
					return false
				}
			}
		}
		return true
	}
	// a consumer region with no endpoint of its own and none in its failover region: every region is
	// as far as the next, so there is no order to check
	ok := before(own, append(append([]uint32{}, to...), rest...)) && before(to, rest)
	if !ok {
		want := fo.Region + " first"
		if fo.To != "" {
			want += ", then " + fo.To
		}
		j.fail("%s: link DestinationRule istio-system/%s localityLbSetting: pilot gives cluster %s the priorities %v (region=priority, lower first), expected %s, then the rest",
			where, path.Host, name, seen, want)
	}
	return ok
}

func splitPrincipal(p string) (ns, sa string) {
	parts := strings.Split(p, "/")
	if len(parts) >= 2 {
		return parts[0], parts[1]
	}
	return "default", p
}

func protoOf(p string) simulation.Protocol {
	switch strings.ToUpper(p) {
	case "HTTP", "HTTP2", "GRPC", "GRPC-WEB":
		return simulation.HTTP
	}
	return simulation.TCP
}

// outboundCall is what a consumer's sidecar does with a request to host:port.
func (j *clusterJudge) outbound(p *model.Proxy, hostname string, port int, protocol string) (simulation.Result, *simulation.Simulation) {
	sim := j.sim(p)
	addr := "240.240.240.240"
	if svc := j.fake.PushContext().ServiceForHostname(p, host.Name(hostname)); svc != nil {
		if a := svc.GetAddressForProxy(p); a != "" && a != "0.0.0.0" {
			addr = a
		}
	}
	res := sim.Run(simulation.Call{Address: addr, Port: port, Protocol: protoOf(protocol), HostHeader: hostname, CallMode: simulation.CallModeOutbound})
	return res, sim
}

// checkConsumer: (a) the consumer's sidecar sends host:port to the producer's gateway over Istio
// mTLS with the SNI the gateway routes on and the producer's SAN.
func (j *clusterJudge) checkConsumer(path Path, caller Caller) bool {
	ns, sa := splitPrincipal(caller.Principal)
	where := fmt.Sprintf("%s -> %s:%d -> %s (sidecar of %s)", path.Consumer, path.Host, path.Port, path.Producer, caller.Principal)
	p := j.proxy(model.SidecarProxy, ns, sa, "10.99.0.1", map[string]string{"app": "mbverify-caller"})
	res, sim := j.outbound(p, path.Host, path.Port, path.Protocol)
	want := model.BuildSubsetKey(model.TrafficDirectionOutbound, "", host.Name(path.Host), path.Port)
	// a routed host's calls go where its routes send them (checkRoutes); the host's own cluster is
	// still what its ServiceEntry and DestinationRule make of it
	if res.Error != nil || (res.ClusterMatched != want && !path.Routed) {
		j.fail("%s: link consumer route: pilot sends the call to cluster %q (error: %v), expected %q: no ServiceEntry or Service for the host reaches this sidecar (ServiceEntry istio-system/%s, Sidecar egress)",
			where, res.ClusterMatched, res.Error, want, path.Host)
		return false
	}
	c := xdstest.ExtractCluster(want, sim.Clusters)
	if c == nil {
		j.fail("%s: link consumer cluster: pilot built no cluster %s", where, want)
		return false
	}
	ok := true
	if path.Subset != "" && !j.checkSubset(p, sim, path, where) {
		ok = false
	}
	if path.Local {
		return ok
	}
	ctx := upstreamTLS(c)
	if ctx == nil {
		j.fail("%s: link DestinationRule istio-system/%s: cluster %s originates no Istio mTLS (plaintext to the gateway is dropped)", where, path.Host, want)
		return false
	}
	if ctx.GetSni() != path.SNI {
		j.fail("%s: link DestinationRule istio-system/%s: cluster %s sends SNI %q, the producer's gateway routes on %q", where, path.Host, want, ctx.GetSni(), path.SNI)
		ok = false
	}
	sans := sanMatchers(ctx)
	for _, want := range path.SAN {
		found := false
		for _, s := range sans {
			if s == want {
				found = true
			}
		}
		if !found {
			j.fail("%s: link ServiceEntry istio-system/%s subjectAltNames: cluster verifies SANs %v, the producer's identity is %s", where, path.Host, sans, want)
			ok = false
		}
	}
	if path.LocalityFailover != nil && !j.checkFailover(p, c, path, where, want) {
		ok = false
	}
	eps := j.clusterEndpoints(p, c)
	wantEP := fmt.Sprintf("%s:%d", path.GatewayAddress, 15443)
	hasGW := false
	for _, e := range eps {
		if e == wantEP {
			hasGW = true
		}
	}
	if !hasGW {
		j.fail("%s: link ServiceEntry istio-system/%s endpoints: cluster %s has endpoints %v, expected the gateway %s (a Kubernetes Service of the same host in this cluster wins over the ServiceEntry)", where, path.Host, want, eps, wantEP)
		ok = false
	}
	return ok
}

// checkGateway: (b) the producer's east-west gateway has a 15443 filter chain for exactly the SNI,
// whose cluster has the producer's pods as endpoints.
func (j *clusterJudge) checkGateway(path Path) bool {
	where := fmt.Sprintf("%s -> %s:%d -> %s (east-west gateway)", path.Consumer, path.Host, path.Port, path.Producer)
	if j.stand.gateway == nil {
		j.fail("%s: link gateway chart: %s installs no east-west gateway", where, j.name)
		return false
	}
	g := j.stand.gateway
	p := j.proxy(model.Router, g.Namespace, g.SA, g.IP, g.Labels)
	sim := j.sim(p)
	res := sim.Run(simulation.Call{Address: g.IP, Port: 15443, Protocol: simulation.TCP, TLS: simulation.MTLS, Sni: path.SNI, CallMode: simulation.CallModeGateway})
	if res.Error != nil || res.ClusterMatched != path.SNI {
		var routed []string
		for _, l := range sim.Listeners {
			if l.GetAddress().GetSocketAddress().GetPortValue() == 15443 {
				for _, fc := range l.GetFilterChains() {
					routed = append(routed, fc.GetFilterChainMatch().GetServerNames()...)
				}
			}
		}
		sort.Strings(routed)
		j.fail("%s: link Gateway istio-system/cross-network-gateway: no 15443 filter chain routes SNI %q (matched %q, error: %v; the gateway routes %v): host missing from the Gateway, or its selector does not pick the gateway pods",
			where, path.SNI, res.ClusterMatched, res.Error, routed)
		return false
	}
	c := xdstest.ExtractCluster(path.SNI, sim.Clusters)
	if c == nil {
		j.fail("%s: link gateway cluster: no cluster %s", where, path.SNI)
		return false
	}
	eps := j.clusterEndpoints(p, c)
	var want []string
	for _, name := range path.Pods {
		if pod, ok := j.stand.pods[path.Namespace+"/"+name]; ok {
			want = append(want, fmt.Sprintf("%s:%d", pod.IP, path.TargetPort))
		}
	}
	for _, vm := range path.VMs {
		want = append(want, fmt.Sprintf("%s:%d", vm.Address, path.TargetPort))
	}
	sort.Strings(want)
	if strings.Join(eps, ",") != strings.Join(want, ",") {
		what := "the producer pods"
		if len(path.VMs) > 0 {
			what = "the producer's VMs (WorkloadEntries) and pods"
		}
		j.fail("%s: link producer Service %s/%s: gateway cluster %s has endpoints %v, expected %s %v", where, path.Namespace, path.Service, path.SNI, eps, what, want)
		return false
	}
	// each VM in its declared locality (the WorkloadEntry's): what locality load balancing sees
	for _, vm := range path.VMs {
		got := ""
		for _, la := range j.localityEndpoints(p, c) {
			for _, ep := range socketEndpoints([]*endpoint.LocalityLbEndpoints{la}) {
				if ep == fmt.Sprintf("%s:%d", vm.Address, path.TargetPort) {
					l := la.GetLocality()
					got = strings.TrimSuffix(l.GetRegion()+"/"+l.GetZone(), "/")
				}
			}
		}
		if got != vm.Locality {
			j.fail("%s: link WorkloadEntry %s/%s: gateway cluster %s has the VM in locality %q, expected %q", where, path.Namespace, vm.Address, path.SNI, got, vm.Locality)
			return false
		}
	}
	return true
}

func rbacSets(t test.Failer, fc *listener.FilterChain) []*rbacv3.RBAC {
	var sets []*rbacv3.RBAC
	if hcm := xdstest.ExtractHTTPConnectionManager(t, fc); hcm != nil {
		for _, f := range hcm.GetHttpFilters() {
			if f.GetName() == "envoy.filters.http.rbac" {
				r := &httprbac.RBAC{}
				if err := f.GetTypedConfig().UnmarshalTo(r); err == nil && r.GetRules() != nil {
					sets = append(sets, r.GetRules())
				}
			}
		}
		return sets
	}
	for _, f := range fc.GetFilters() {
		if f.GetName() == "envoy.filters.network.rbac" {
			r := &netrbac.RBAC{}
			if err := f.GetTypedConfig().UnmarshalTo(r); err == nil && r.GetRules() != nil {
				sets = append(sets, r.GetRules())
			}
		}
	}
	return sets
}

// checkAuthz: (c) the producer's sidecar admits each declared principal (with its methods and
// paths) and the declared local callers, and nothing wider.
func (j *clusterJudge) checkAuthz(a Authz, trustDomain string) {
	where := fmt.Sprintf("%s: %s/%s port %d (producer sidecar)", a.Cluster, a.Namespace, a.Service, a.Port)
	var pod *podInfo
	candidates := make([]podInfo, 0, len(j.stand.pods)+len(j.stand.vms))
	for _, pi := range j.stand.pods {
		candidates = append(candidates, pi)
	}
	for _, pi := range j.stand.vms { // a service backed by VMs: their sidecar enforces the policy
		candidates = append(candidates, pi)
	}
	for _, pi := range candidates {
		if pi.Namespace != a.Namespace {
			continue
		}
		match := true
		for k, v := range a.Selector {
			if pi.Labels[k] != v {
				match = false
			}
		}
		if match && (pod == nil || pi.Name < pod.Name) {
			pp := pi
			pod = &pp
		}
	}
	if pod == nil {
		j.fail("%s: no stand-in pod or VM", where)
		return
	}
	p := j.proxy(model.SidecarProxy, pod.Namespace, pod.SA, pod.IP, pod.Labels)
	sim := j.listenerSim(p)
	res := sim.Run(simulation.Call{Address: pod.IP, Port: a.TargetPort, Protocol: protoOf(a.Protocol), TLS: simulation.MTLS, CallMode: simulation.CallModeInbound})
	if res.Error != nil {
		j.fail("%s: link inbound listener: an mTLS call to %s:%d matches no filter chain (%v)", where, pod.IP, a.TargetPort, res.Error)
		return
	}
	l := xdstest.ExtractListener(res.ListenerMatched, sim.Listeners)
	fc := xdstest.ExtractFilterChain(res.FilterChainMatched, l)
	if fc == nil {
		j.fail("%s: link inbound listener: filter chain %q not found", where, res.FilterChainMatched)
		return
	}
	sets := rbacSets(j.t, fc)
	spiffe := func(principal string) string { return "spiffe://" + principal }
	http := protoOf(a.Protocol) == simulation.HTTP
	try := func(principal, method, path string) (bool, string) {
		ok, why, err := rbacAllows(sets, Request{Principal: spiffe(principal), Method: method, Path: path, Port: a.TargetPort})
		if err != nil {
			j.fail("%s: cannot evaluate Istio's RBAC for %s: %v", where, principal, err)
			return true, ""
		}
		return ok, why
	}
	admit := func(c Caller, label string) {
		methods := c.Methods
		if len(methods) == 0 || !http {
			methods = []string{"GET"}
		}
		paths := c.Paths
		if len(paths) == 0 || !http {
			paths = []string{"/"}
		}
		for _, m := range methods {
			for _, pth := range paths {
				pth = strings.ReplaceAll(strings.TrimSuffix(pth, "*"), "*", "x")
				if pth == "" {
					pth = "/"
				}
				if ok, why := try(c.Principal, m, pth); !ok {
					j.fail("%s: link AuthorizationPolicy %s: %s %s %s %s is refused by the sidecar's RBAC (%s)", where, a.Namespace, label, c.Principal, m, pth, why)
				}
			}
		}
		if !http {
			return
		}
		if len(c.Methods) > 0 {
			if ok, _ := try(c.Principal, "MBVERIFY", paths[0]); ok {
				j.fail("%s: link AuthorizationPolicy %s: %s is admitted for method MBVERIFY, outside its declared methods %v", where, a.Namespace, c.Principal, c.Methods)
			}
		}
		if len(c.Paths) > 0 {
			if ok, _ := try(c.Principal, methods[0], "/mbverify-undeclared"); ok {
				j.fail("%s: link AuthorizationPolicy %s: %s is admitted on /mbverify-undeclared, outside its declared paths %v", where, a.Namespace, c.Principal, c.Paths)
			}
		}
	}
	for _, c := range a.Allowed {
		admit(Caller{Principal: trustDomain + "/ns/" + strings.Replace(c.Principal, "/", "/sa/", 1), Methods: c.Methods, Paths: c.Paths}, "consumer")
	}
	for _, ns := range a.LocalCallers.Namespaces {
		admit(Caller{Principal: trustDomain + "/ns/" + ns + "/sa/mbverify-any"}, "local caller namespace")
	}
	for _, pr := range a.LocalCallers.Principals {
		admit(Caller{Principal: trustDomain + "/ns/" + strings.Replace(pr, "/", "/sa/", 1)}, "local caller")
	}
	if ok, _ := try(trustDomain+"/ns/"+intruderNS+"/sa/intruder", "GET", "/"); ok {
		j.fail("%s: link AuthorizationPolicy %s: an undeclared principal %s/ns/%s/sa/intruder is admitted", where, a.Namespace, trustDomain, intruderNS)
	}
}

// checkCrossNamespace: (d) an ordinary sidecar reaches a Service of another namespace over mTLS,
// not through PassthroughCluster (a root-namespace Sidecar without */* egress breaks this).
func (j *clusterJudge) checkCrossNamespace() {
	where := fmt.Sprintf("%s: %s -> %s.%s (ordinary cross-namespace call)", j.name, probeCallerNS, probeTarget, probeTargetNS)
	p := j.proxy(model.SidecarProxy, probeCallerNS, "default", "10.98.0.1", map[string]string{"app": "mbverify-caller"})
	h := probeTarget + "." + probeTargetNS + ".svc.cluster.local"
	res, sim := j.outbound(p, h, 80, "HTTP")
	want := model.BuildSubsetKey(model.TrafficDirectionOutbound, "", host.Name(h), 80)
	if res.ClusterMatched != want {
		j.fail("%s: link Sidecar (root namespace default): the call goes to %q (error: %v), not %s: egress hides other namespaces' Services, so calls leave in plaintext through PassthroughCluster and STRICT mTLS resets them",
			where, res.ClusterMatched, res.Error, want)
		return
	}
	c := xdstest.ExtractCluster(want, sim.Clusters)
	if c == nil || upstreamTLS(c) == nil {
		j.fail("%s: link DestinationRule/PeerAuthentication: cluster %s originates no Istio mTLS", where, want)
	}
}

func toAnyMap(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func portsAny(ports []WorkloadPort) []any {
	out := []any{}
	for _, p := range ports {
		out = append(out, map[string]any{"name": p.Name, "port": float64(p.Port), "targetPort": float64(p.TargetPort)})
	}
	return out
}

// selects reports whether a label selector (a Gateway's) picks pods with these labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkIngress: every HTTP server of a Gateway that selects the ingress gateway gets a listener on
// the ingress gateway for its port, and each VirtualService bound to that Gateway routes a request
// for its host there to the cluster of its first destination (pilot's own route computation).
// Returns how many routes were judged.
func (j *clusterJudge) checkIngress(objs []Object) int {
	judged := 0
	for _, gw := range objs {
		if gw.Kind() != "Gateway" || !gw.IsIstio() || !selects(stringMap(gw.Spec()["selector"]), ingressLabels(j.stand)) {
			continue
		}
		where := fmt.Sprintf("%s: %s (ingress gateway)", j.name, gw.Describe())
		if j.stand.ingress == nil {
			j.fail("%s: selects the ingress gateway, which %s does not install", where, j.name)
			continue
		}
		g := j.stand.ingress
		p := j.proxy(model.Router, g.Namespace, g.SA, g.IP, g.Labels)
		sim := j.sim(p)
		for _, srv := range list(gw.Spec(), "servers") {
			sm, _ := srv.(map[string]any)
			port := number(sub(sm, "port")["number"])
			if proto := strings.ToUpper(str(sub(sm, "port"), "protocol")); proto != "HTTP" {
				continue // TLS servers need the gateway's certificate: not judged
			}
			listening := false
			for _, l := range sim.Listeners {
				if int(l.GetAddress().GetSocketAddress().GetPortValue()) == port {
					listening = true
				}
			}
			if !listening {
				j.fail("%s: no listener on port %d of the ingress gateway (the gateway chart's pods are not selected, or the port is not served)", where, port)
				continue
			}
			// each host of the server routes to a cluster pilot built, with endpoints: the bound
			// VirtualService's first destination when one declares the host
			for _, h := range list(sm, "hosts") {
				hostname, _ := h.(string)
				if _, after, ok := strings.Cut(hostname, "/"); ok {
					hostname = after
				}
				if hostname == "" || strings.Contains(hostname, "*") {
					continue
				}
				want := ""
				for _, vs := range objs {
					if vs.Kind() == "VirtualService" && boundTo(vs, gw) && hasHost(vs, hostname) {
						want = firstDestination(vs)
					}
				}
				res := sim.Run(simulation.Call{Address: g.IP, Port: port, Protocol: simulation.HTTP, HostHeader: hostname, CallMode: simulation.CallModeGateway})
				parts := strings.Split(res.ClusterMatched, "|")
				if res.Error != nil || len(parts) != 4 {
					j.fail("%s: a request for %s on port %d is routed nowhere (cluster %q, error: %v): no VirtualService bound to the Gateway routes the host", where, hostname, port, res.ClusterMatched, res.Error)
					continue
				}
				if want != "" && parts[3] != want {
					j.fail("%s: a request for %s on port %d goes to cluster %q, expected the VirtualService's destination %s", where, hostname, port, res.ClusterMatched, want)
					continue
				}
				c := xdstest.ExtractCluster(res.ClusterMatched, sim.Clusters)
				if c == nil || len(j.clusterEndpoints(p, c)) == 0 {
					j.fail("%s: a request for %s on port %d goes to cluster %q, which has no endpoints (the destination is no Service of the cluster)", where, hostname, port, res.ClusterMatched)
					continue
				}
				judged++
			}
		}
	}
	return judged
}

func ingressLabels(s *standIns) map[string]string {
	if s.ingress == nil {
		return map[string]string{"istio": "ingressgateway"}
	}
	return s.ingress.Labels
}

// hasHost: the VirtualService declares the host.
func hasHost(vs Object, hostname string) bool {
	for _, h := range list(vs.Spec(), "hosts") {
		if s, _ := h.(string); s == hostname {
			return true
		}
	}
	return false
}

// boundTo: the VirtualService names the Gateway in spec.gateways (`ns/name`, or `name` in its namespace).
func boundTo(vs, gw Object) bool {
	for _, g := range list(vs.Spec(), "gateways") {
		name, _ := g.(string)
		if name == gw.Namespace()+"/"+gw.Name() || (name == gw.Name() && vs.Namespace() == gw.Namespace()) {
			return true
		}
	}
	return false
}

// firstDestination: the FQDN of the first http route's first destination (short names resolve in
// the VirtualService's namespace, as Istio does).
func firstDestination(vs Object) string {
	for _, r := range list(vs.Spec(), "http") {
		rm, _ := r.(map[string]any)
		for _, d := range list(rm, "route") {
			dm, _ := d.(map[string]any)
			h := str(sub(dm, "destination"), "host")
			if h != "" && !strings.Contains(h, ".") {
				h = h + "." + vs.Namespace() + ".svc.cluster.local"
			}
			return h
		}
	}
	return ""
}
