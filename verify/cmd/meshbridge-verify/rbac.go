package main

import (
	"fmt"
	"regexp"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Request is what an inbound RBAC filter sees of one call: the peer's SPIFFE principal (filter
// state io.istio.peer_principal, as Istio's authn filter sets it), method, path and port.
type Request struct {
	Principal string
	Method    string
	Path      string
	Port      int
}

// evalErr marks a matcher Istio generated that this evaluator does not model: the verdict is then
// "cannot tell", reported as a failure rather than guessed.
type evalErr struct{ what string }

func (e evalErr) Error() string { return "RBAC matcher not modelled: " + e.what }

func matchString(m *matcher.StringMatcher, s string) bool {
	if m == nil {
		return false
	}
	v := s
	pat := ""
	if m.GetIgnoreCase() {
		v = strings.ToLower(v)
	}
	lower := func(p string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(p)
		}
		return p
	}
	switch p := m.MatchPattern.(type) {
	case *matcher.StringMatcher_Exact:
		return v == lower(p.Exact)
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, lower(p.Prefix))
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, lower(p.Suffix))
	case *matcher.StringMatcher_Contains:
		return strings.Contains(v, lower(p.Contains))
	case *matcher.StringMatcher_SafeRegex:
		pat = p.SafeRegex.GetRegex()
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			panic(evalErr{"regex " + pat})
		}
		return re.MatchString(s)
	}
	panic(evalErr{fmt.Sprintf("string matcher %T", m.MatchPattern)})
}

func matchHeader(h *route.HeaderMatcher, r Request) bool {
	var value string
	switch h.GetName() {
	case ":method":
		value = r.Method
	case ":path":
		value = r.Path
	default:
		// A header this evaluator does not send: the request does not carry it.
		return h.GetInvertMatch()
	}
	var ok bool
	switch s := h.HeaderMatchSpecifier.(type) {
	case *route.HeaderMatcher_StringMatch:
		ok = matchString(s.StringMatch, value)
	case *route.HeaderMatcher_ExactMatch:
		ok = value == s.ExactMatch
	case *route.HeaderMatcher_PrefixMatch:
		ok = strings.HasPrefix(value, s.PrefixMatch)
	case *route.HeaderMatcher_PresentMatch:
		ok = s.PresentMatch
	default:
		panic(evalErr{fmt.Sprintf("header matcher %T", h.HeaderMatchSpecifier)})
	}
	return ok != h.GetInvertMatch()
}

func matchPrincipal(p *rbacv3.Principal, r Request) bool {
	switch id := p.Identifier.(type) {
	case *rbacv3.Principal_Any:
		return id.Any
	case *rbacv3.Principal_AndIds:
		for _, x := range id.AndIds.GetIds() {
			if !matchPrincipal(x, r) {
				return false
			}
		}
		return true
	case *rbacv3.Principal_OrIds:
		for _, x := range id.OrIds.GetIds() {
			if matchPrincipal(x, r) {
				return true
			}
		}
		return false
	case *rbacv3.Principal_NotId:
		return !matchPrincipal(id.NotId, r)
	case *rbacv3.Principal_Authenticated_:
		return matchString(id.Authenticated.GetPrincipalName(), r.Principal)
	case *rbacv3.Principal_FilterState:
		if id.FilterState.GetKey() != "io.istio.peer_principal" {
			panic(evalErr{"filter state " + id.FilterState.GetKey()})
		}
		return matchString(id.FilterState.GetStringMatch(), r.Principal)
	case *rbacv3.Principal_Header:
		return matchHeader(id.Header, r)
	case *rbacv3.Principal_UrlPath:
		return matchString(id.UrlPath.GetPath(), r.Path)
	}
	panic(evalErr{fmt.Sprintf("principal %T", p.Identifier)})
}

func matchPermission(p *rbacv3.Permission, r Request) bool {
	switch rule := p.Rule.(type) {
	case *rbacv3.Permission_Any:
		return rule.Any
	case *rbacv3.Permission_AndRules:
		for _, x := range rule.AndRules.GetRules() {
			if !matchPermission(x, r) {
				return false
			}
		}
		return true
	case *rbacv3.Permission_OrRules:
		for _, x := range rule.OrRules.GetRules() {
			if matchPermission(x, r) {
				return true
			}
		}
		return false
	case *rbacv3.Permission_NotRule:
		return !matchPermission(rule.NotRule, r)
	case *rbacv3.Permission_Header:
		return matchHeader(rule.Header, r)
	case *rbacv3.Permission_UrlPath:
		return matchString(rule.UrlPath.GetPath(), r.Path)
	case *rbacv3.Permission_DestinationPort:
		return int(rule.DestinationPort) == r.Port
	case *rbacv3.Permission_DestinationPortRange:
		return int32(r.Port) >= rule.DestinationPortRange.GetStart() && int32(r.Port) < rule.DestinationPortRange.GetEnd()
	}
	panic(evalErr{fmt.Sprintf("permission %T", p.Rule)})
}

// rbacAllows evaluates the RBAC rule sets of one filter chain, in order, as Envoy applies them:
// a DENY set refuses a request one of its policies matches, an ALLOW set refuses one none matches.
func rbacAllows(sets []*rbacv3.RBAC, r Request) (allowed bool, policy string, err error) {
	defer func() {
		if e := recover(); e != nil {
			if ee, ok := e.(evalErr); ok {
				err = ee
				return
			}
			panic(e)
		}
	}()
	for _, set := range sets {
		matched := ""
		for name, pol := range set.GetPolicies() {
			pOK := false
			for _, perm := range pol.GetPermissions() {
				if matchPermission(perm, r) {
					pOK = true
					break
				}
			}
			if !pOK {
				continue
			}
			for _, pr := range pol.GetPrincipals() {
				if matchPrincipal(pr, r) {
					matched = name
					break
				}
			}
			if matched != "" {
				break
			}
		}
		switch set.GetAction() {
		case rbacv3.RBAC_ALLOW:
			if matched == "" {
				return false, "no ALLOW policy matches", nil
			}
			policy = matched
		case rbacv3.RBAC_DENY:
			if matched != "" {
				return false, "DENY policy " + matched, nil
			}
		}
	}
	return true, policy, nil
}
