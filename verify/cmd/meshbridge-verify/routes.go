package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/config/host"
)

// RouteDecl is services[].routing as one consumer's sidecar must get it for one host and port.
type RouteDecl struct {
	Consumer string      `json:"consumer"`
	Host     string      `json:"host"`
	Port     int         `json:"port"`
	Protocol string      `json:"protocol"`
	Rules    []RouteRule `json:"rules"`
}

// RouteRule is one rule: a request that reaches it (stacks/routing.py) and what its route must do.
type RouteRule struct {
	Name    string `json:"name"`
	Request struct {
		Path    string            `json:"path"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
	} `json:"request"`
	// subset ("" for the host's own cluster) -> weight in percent
	Clusters  map[string]int `json:"clusters"`
	TimeoutMs int64          `json:"timeoutMs"`
	Retries   *struct {
		Attempts        uint32 `json:"attempts"`
		PerTryTimeoutMs int64  `json:"perTryTimeoutMs"`
		RetryOn         string `json:"retryOn"`
	} `json:"retries"`
	Fault *struct {
		DelayPercent float64 `json:"delayPercent"`
		DelayMs      int64   `json:"delayMs"`
		AbortPercent float64 `json:"abortPercent"`
		AbortStatus  uint32  `json:"abortStatus"`
	} `json:"fault"`
	Mirror *struct {
		Cluster string  `json:"cluster"`
		Percent float64 `json:"percent"`
	} `json:"mirror"`
}

func subsetCluster(subset, hostname string, port int) string {
	return model.BuildSubsetKey(model.TrafficDirectionOutbound, subset, host.Name(hostname), port)
}

// checkSubset: pilot's cluster for the producer's subset holds that producer's endpoint and no
// other, with the same mTLS as the host (a route to the subset reaches that producer only).
func (j *clusterJudge) checkSubset(p *model.Proxy, sim *simulation.Simulation, path Path, where string) bool {
	name := subsetCluster(path.Subset, path.Host, path.Port)
	c := xdstest.ExtractCluster(name, sim.Clusters)
	if c == nil {
		j.fail("%s: link DestinationRule istio-system/%s subsets: pilot built no cluster %s", where, path.Host, name)
		return false
	}
	want := path.SubsetEndpoint
	if want == "" {
		want = fmt.Sprintf("%s:%d", path.GatewayAddress, 15443)
	}
	eps := j.clusterEndpoints(p, c)
	if strings.Join(eps, ",") != want {
		j.fail("%s: link DestinationRule istio-system/%s subset %s: cluster %s has endpoints %v, expected %s only (the subset's labels select the producer's endpoints of the ServiceEntry)",
			where, path.Host, path.Subset, name, eps, want)
		return false
	}
	if path.SubsetEndpoint == "" {
		ctx := upstreamTLS(c)
		if ctx == nil || ctx.GetSni() != path.SNI {
			j.fail("%s: link DestinationRule istio-system/%s subset %s: cluster %s does not originate Istio mTLS with SNI %q", where, path.Host, path.Subset, name, path.SNI)
			return false
		}
	}
	return true
}

// stringMatches is Envoy's StringMatcher on one value (exact, prefix, suffix, contains; regular
// expressions are never rendered by meshbridge and count as no match).
func stringMatches(m *matcher.StringMatcher, v string) bool {
	switch m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return v == m.GetExact()
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, m.GetPrefix())
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, m.GetSuffix())
	case *matcher.StringMatcher_Contains:
		return strings.Contains(v, m.GetContains())
	}
	return false
}

// routeMatches is Envoy's RouteMatch for a request: the path specifier and every header matcher
// (`:method` included). A route with other conditions (query parameters, a runtime fraction, gRPC,
// TLS context) is not one meshbridge renders and is reported as not matching.
func routeMatches(m *route.RouteMatch, req map[string]string, path string) bool {
	if len(m.GetQueryParameters()) > 0 || m.GetRuntimeFraction() != nil || m.GetGrpc() != nil || m.GetTlsContext() != nil {
		return false
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		if !strings.HasPrefix(path, ps.Prefix) {
			return false
		}
	case *route.RouteMatch_Path:
		if path != ps.Path {
			return false
		}
	case *route.RouteMatch_PathSeparatedPrefix:
		if path != ps.PathSeparatedPrefix && !strings.HasPrefix(path, ps.PathSeparatedPrefix+"/") {
			return false
		}
	default:
		return false
	}
	for _, h := range m.GetHeaders() {
		v, present := req[strings.ToLower(h.GetName())]
		var ok bool
		switch h.GetHeaderMatchSpecifier().(type) {
		case *route.HeaderMatcher_StringMatch:
			ok = present && stringMatches(h.GetStringMatch(), v)
		case *route.HeaderMatcher_PresentMatch:
			ok = present == h.GetPresentMatch()
		default:
			ok = false
		}
		if h.GetInvertMatch() {
			ok = !ok
		}
		if !ok {
			return false
		}
	}
	return true
}

func percentOf(f *typev3.FractionalPercent) float64 {
	d := 100.0
	switch f.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		d = 10000
	case typev3.FractionalPercent_MILLION:
		d = 1000000
	}
	return float64(f.GetNumerator()) * 100 / d
}

func samePercent(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// checkRoutes: for every rule, a request that reaches it (judge.json) is taken by the rule's route
// in the consumer sidecar's route configuration as pilot computes it (the first route that
// matches), whose clusters, weights, timeout, retries, fault and mirror are the configuration's.
// Returns how many rules were judged.
func (j *clusterJudge) checkRoutes(rd RouteDecl, caller Caller) (int, bool) {
	ns, sa := splitPrincipal(caller.Principal)
	p := j.proxy(model.SidecarProxy, ns, sa, "10.99.0.1", map[string]string{"app": "mbverify-caller"})
	res, sim := j.outbound(p, rd.Host, rd.Port, rd.Protocol)
	where := fmt.Sprintf("%s -> %s:%d (routes in the sidecar of %s)", rd.Consumer, rd.Host, rd.Port, caller.Principal)
	if res.RouteConfigMatched == "" || res.VirtualHostMatched == "" {
		j.fail("%s: link VirtualService istio-system/%s: the call reaches no HTTP route configuration (route %q, virtual host %q, error: %v)",
			where, rd.Host, res.RouteConfigMatched, res.VirtualHostMatched, res.Error)
		return 0, false
	}
	rc := xdstest.ExtractRouteConfigurations(sim.Routes)[res.RouteConfigMatched]
	var vh *route.VirtualHost
	for _, v := range rc.GetVirtualHosts() {
		if v.GetName() == res.VirtualHostMatched {
			vh = v
		}
	}
	if vh == nil {
		j.fail("%s: link VirtualService istio-system/%s: virtual host %q not in route configuration %q", where, rd.Host, res.VirtualHostMatched, res.RouteConfigMatched)
		return 0, false
	}
	ok := true
	judged := 0
	for _, rule := range rd.Rules {
		at := fmt.Sprintf("%s: link VirtualService istio-system/%s route %s", where, rd.Host, rule.Name)
		req := map[string]string{":method": rule.Request.Method, ":path": rule.Request.Path, ":authority": rd.Host}
		for k, v := range rule.Request.Headers {
			req[k] = v
		}
		var taken *route.Route
		for _, r := range vh.GetRoutes() {
			if routeMatches(r.GetMatch(), req, rule.Request.Path) {
				taken = r
				break
			}
		}
		probe := fmt.Sprintf("%s %s %v", rule.Request.Method, rule.Request.Path, rule.Request.Headers)
		if taken == nil {
			j.fail("%s: the request %s matches no route (pilot built %d routes)", at, probe, len(vh.GetRoutes()))
			ok = false
			continue
		}
		if taken.GetName() != rule.Name {
			j.fail("%s: the request %s is taken by route %q first", at, probe, taken.GetName())
			ok = false
			continue
		}
		if !j.checkRoute(taken, rule, rd, at, sim) {
			ok = false
			continue
		}
		judged++
	}
	return judged, ok
}

func (j *clusterJudge) checkRoute(r *route.Route, rule RouteRule, rd RouteDecl, at string, sim *simulation.Simulation) bool {
	action := r.GetRoute()
	if action == nil {
		j.fail("%s: pilot built no route action (%T)", at, r.GetAction())
		return false
	}
	got := map[string]uint32{}
	if c := action.GetCluster(); c != "" {
		got[c] = 100
	}
	for _, cw := range action.GetWeightedClusters().GetClusters() {
		got[cw.GetName()] = cw.GetWeight().GetValue()
	}
	want := map[string]uint32{}
	for subset, w := range rule.Clusters {
		if w > 0 || len(rule.Clusters) == 1 {
			want[subsetCluster(subset, rd.Host, rd.Port)] = uint32(w)
		}
	}
	describe := func(m map[string]uint32) string {
		var out []string
		for k, v := range m {
			out = append(out, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(out)
		return strings.Join(out, ", ")
	}
	// a weight of 0 may be rendered or left out: compare the clusters that get traffic
	for k, v := range got {
		if v == 0 {
			delete(got, k)
		}
	}
	if describe(got) != describe(want) {
		j.fail("%s: pilot sends the traffic to %s, the configuration's weights are %s", at, describe(got), describe(want))
		return false
	}
	ok := true
	// a route to a cluster pilot did not build answers 503 (no cluster): a subset that selects nothing
	for name := range want {
		if xdstest.ExtractCluster(name, sim.Clusters) == nil {
			j.fail("%s: routes to cluster %s, which pilot did not build (its subset selects no endpoint): requests get 503", at, name)
			ok = false
		}
	}
	if rule.TimeoutMs > 0 && action.GetTimeout().AsDuration().Milliseconds() != rule.TimeoutMs {
		j.fail("%s: timeout %v, configured %dms", at, action.GetTimeout().AsDuration(), rule.TimeoutMs)
		ok = false
	}
	if rule.Retries != nil {
		rp := action.GetRetryPolicy()
		switch {
		case rule.Retries.Attempts == 0 && rp != nil && rp.GetNumRetries().GetValue() != 0:
			j.fail("%s: retries on (%d), configured off", at, rp.GetNumRetries().GetValue())
			ok = false
		case rule.Retries.Attempts > 0 && rp.GetNumRetries().GetValue() != rule.Retries.Attempts:
			j.fail("%s: %d retries, configured %d", at, rp.GetNumRetries().GetValue(), rule.Retries.Attempts)
			ok = false
		case rule.Retries.PerTryTimeoutMs > 0 && rp.GetPerTryTimeout().AsDuration().Milliseconds() != rule.Retries.PerTryTimeoutMs:
			j.fail("%s: per-try timeout %v, configured %dms", at, rp.GetPerTryTimeout().AsDuration(), rule.Retries.PerTryTimeoutMs)
			ok = false
		case rule.Retries.RetryOn != "" && !sameRetryOn(rp, rule.Retries.RetryOn):
			j.fail("%s: retries on %q (status codes %v), configured %q", at, rp.GetRetryOn(), rp.GetRetriableStatusCodes(), rule.Retries.RetryOn)
			ok = false
		}
	}
	if rule.Fault != nil {
		f := &faultv3.HTTPFault{}
		cfg := r.GetTypedPerFilterConfig()["envoy.filters.http.fault"]
		if cfg == nil || cfg.UnmarshalTo(f) != nil {
			j.fail("%s: no fault injection on the route", at)
			ok = false
		} else {
			if rule.Fault.DelayMs > 0 && (f.GetDelay().GetFixedDelay().AsDuration().Milliseconds() != rule.Fault.DelayMs || !samePercent(percentOf(f.GetDelay().GetPercentage()), rule.Fault.DelayPercent)) {
				j.fail("%s: delay %v for %.4f%% of requests, configured %dms for %.4f%%", at, f.GetDelay().GetFixedDelay().AsDuration(), percentOf(f.GetDelay().GetPercentage()), rule.Fault.DelayMs, rule.Fault.DelayPercent)
				ok = false
			}
			if rule.Fault.AbortStatus > 0 && (f.GetAbort().GetHttpStatus() != rule.Fault.AbortStatus || !samePercent(percentOf(f.GetAbort().GetPercentage()), rule.Fault.AbortPercent)) {
				j.fail("%s: abort %d for %.4f%% of requests, configured %d for %.4f%%", at, f.GetAbort().GetHttpStatus(), percentOf(f.GetAbort().GetPercentage()), rule.Fault.AbortStatus, rule.Fault.AbortPercent)
				ok = false
			}
		}
	}
	if rule.Mirror != nil {
		want := subsetCluster(rule.Mirror.Cluster, rd.Host, rd.Port)
		found := false
		var seen []string
		for _, m := range action.GetRequestMirrorPolicies() {
			pct := percentOf(m.GetRuntimeFraction().GetDefaultValue())
			if m.GetRuntimeFraction() == nil {
				pct = 100
			}
			seen = append(seen, fmt.Sprintf("%s %.4f%%", m.GetCluster(), pct))
			if m.GetCluster() == want && samePercent(pct, rule.Mirror.Percent) {
				found = true
			}
		}
		if !found {
			j.fail("%s: mirrors to %v, configured %s for %.4f%% of requests", at, seen, want, rule.Mirror.Percent)
			ok = false
		}
	}
	return ok
}

// sameRetryOn: Envoy's retry policy has the configured conditions, the configured HTTP status codes
// as retriable status codes, and `retriable-status-codes` when there are codes (as istiod
// translates retryOn: pilot/pkg/networking/core/route/retry).
func sameRetryOn(rp *route.RetryPolicy, configured string) bool {
	want, got := map[string]bool{}, map[string]bool{}
	var codes []string
	for _, part := range strings.Split(configured, ",") {
		if _, err := strconv.Atoi(part); err == nil {
			codes = append(codes, part)
			want["retriable-status-codes"] = true
		} else if part != "" {
			want[part] = true
		}
	}
	for _, part := range strings.Split(rp.GetRetryOn(), ",") {
		if part != "" {
			got[part] = true
		}
	}
	var gotCodes []string
	for _, c := range rp.GetRetriableStatusCodes() {
		gotCodes = append(gotCodes, strconv.Itoa(int(c)))
	}
	sort.Strings(codes)
	sort.Strings(gotCodes)
	return fmt.Sprint(want) == fmt.Sprint(got) && strings.Join(codes, ",") == strings.Join(gotCodes, ",")
}
