package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pilot/pkg/controllers/ipallocate"
	autoallocate "istio.io/istio/pilot/pkg/networking/serviceentry"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/schema/gvr"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient/clienttest"
)

// In a cluster, istiod's IP allocation controller (istio.io/istio pilot/pkg/controllers/ipallocate,
// started when PILOT_ENABLE_IP_AUTOALLOCATE is on, its default since 1.25) writes a virtual address
// per host into the status of every ServiceEntry that qualifies (resolution not NONE, no
// spec.addresses, no `networking.istio.io/enable-autoallocate-ip: "false"` label): one IPv4 address
// from PILOT_IP_AUTOALLOCATE_IPV4_PREFIX (240.240.0.0/16) and one IPv6 address from
// PILOT_IP_AUTOALLOCATE_IPV6_PREFIX (2001:2::/48), each with `host` set. Pilot's ServiceEntry
// conversion and the analyzers (IST0134) read those status addresses. The fake discovery server and
// `istioctl analyze` run no controllers, so the judge runs that controller itself, unchanged, on a
// fake Kubernetes client (the one Istio's own tests use for it), and copies the status it writes
// into the objects both of them read.

// allocationBarrier is the host of a ServiceEntry created after the cluster's own: the controller
// works through its queue in order with one worker, so once this one has its status, every
// ServiceEntry before it has been reconciled. It is never shown to pilot or the analyzers.
const allocationBarrier = "mbverify-allocation-barrier.invalid"

// allocationBatch: the fake client's watch buffers watch.DefaultChanSize (100) events and panics
// ("channel full") when more wait, so the ServiceEntries are created in batches, each reconciled
// (its creations and the controller's status writes delivered) before the next; the order of
// creation, and so of allocation, is unchanged.
const allocationBatch = 40

// allocateAddresses runs istiod's IP allocation controller over a cluster's ServiceEntries, created
// in the given order (as an apply would), and sets each object's `status` to what the controller
// wrote (no status when it wrote none). It returns the problems found.
func allocateAddresses(cluster string, serviceEntries []Object) []string {
	if len(serviceEntries) == 0 {
		return nil
	}
	var problems []string
	errs := runJudged(func(t *failer) {
		problems = runAllocator(t, cluster, serviceEntries)
	})
	for _, e := range errs {
		problems = append(problems, fmt.Sprintf("%s: istiod's IP allocation controller could not run: %s", cluster, e))
	}
	return problems
}

func runAllocator(t *failer, cluster string, serviceEntries []Object) []string {
	stop := make(chan struct{})
	defer close(stop)
	c := kubelib.NewFakeClient()
	clienttest.MakeCRD(t, c, gvr.ServiceEntry)
	controller := ipallocate.NewIPAllocator(stop, c)
	go controller.Run(stop)
	c.RunAndWait(stop)
	if !waitFor(10*time.Second, controller.HasSynced) {
		return []string{cluster + ": istiod's IP allocation controller did not sync"}
	}
	client := c.Istio().NetworkingV1()
	ctx := context.Background()

	var problems []string
	created := make([]*networkingv1.ServiceEntry, len(serviceEntries))
	for start := 0; start < len(serviceEntries); start += allocationBatch {
		end := min(start+allocationBatch, len(serviceEntries))
		var last *networkingv1.ServiceEntry // the batch's last one the controller allocates for
		for i := start; i < end; i++ {
			o := serviceEntries[i]
			se, err := toServiceEntry(o)
			if err == nil {
				created[i], err = client.ServiceEntries(se.Namespace).Create(ctx, se, metav1.CreateOptions{})
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: not given to istiod's IP allocation controller: %v", cluster, o.Describe(), err))
				continue
			}
			if autoallocate.ShouldV2AutoAllocateIP(created[i]) && hasConcreteHost(created[i]) {
				last = created[i]
			}
		}
		// one worker reconciles in order: once the last has its status, the batch is done
		if last != nil && !waitFor(30*time.Second, func() bool {
			got, err := client.ServiceEntries(last.Namespace).Get(ctx, last.Name, metav1.GetOptions{})
			return err == nil && len(got.Status.Addresses) > 0
		}) {
			return append(problems, fmt.Sprintf("%s: istiod's IP allocation controller wrote no addresses for ServiceEntry %s/%s within 30s", cluster, last.Namespace, last.Name))
		}
	}
	barrier := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: "mbverify-allocation-barrier", Namespace: "mbverify-allocation-barrier"}}
	barrier.Spec.Hosts = []string{allocationBarrier}
	barrier.Spec.Resolution = networking.ServiceEntry_DNS // NONE (the zero value) gets no address
	if _, err := client.ServiceEntries(barrier.Namespace).Create(ctx, barrier, metav1.CreateOptions{}); err != nil {
		return append(problems, fmt.Sprintf("%s: istiod's IP allocation controller: %v", cluster, err))
	}
	reconciled := waitFor(30*time.Second, func() bool {
		got, err := client.ServiceEntries(barrier.Namespace).Get(ctx, barrier.Name, metav1.GetOptions{})
		return err == nil && len(got.Status.Addresses) > 0
	})
	if !reconciled {
		return append(problems, cluster+": istiod's IP allocation controller did not reconcile the ServiceEntries within 30s")
	}
	for i, o := range serviceEntries {
		if created[i] == nil {
			continue
		}
		got, err := client.ServiceEntries(created[i].Namespace).Get(ctx, created[i].Name, metav1.GetOptions{})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", cluster, o.Describe(), err))
			continue
		}
		if len(got.Status.Addresses) == 0 {
			delete(o.Obj, "status")
			if autoallocate.ShouldV2AutoAllocateIP(got) && hasConcreteHost(got) {
				problems = append(problems, fmt.Sprintf("%s: %s: istiod's IP allocation controller wrote no addresses for it", cluster, o.Describe()))
			}
			continue
		}
		addresses := make([]any, 0, len(got.Status.Addresses))
		for _, a := range got.Status.Addresses {
			addresses = append(addresses, map[string]any{"value": a.GetValue(), "host": a.GetHost()})
		}
		o.Obj["status"] = map[string]any{"addresses": addresses}
	}
	return problems
}

// hasConcreteHost: a host the controller allocates for (it skips wildcard hosts unless the
// resolution is DYNAMIC_DNS); only used to tell "wrote nothing, correctly" from a failure.
func hasConcreteHost(se *networkingv1.ServiceEntry) bool {
	for _, h := range se.Spec.Hosts {
		if !host.Name(h).IsWildCarded() || se.Spec.Resolution == networking.ServiceEntry_DYNAMIC_DNS {
			return true
		}
	}
	return false
}

// toServiceEntry is the tree's object as the Kubernetes API would hold it (any served version of
// the kind has the same spec), without a status: the controller starts from what apply creates.
func toServiceEntry(o Object) (*networkingv1.ServiceEntry, error) {
	obj := copyMap(o.Obj)
	delete(obj, "status")
	obj["apiVersion"] = "networking.istio.io/v1"
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	se := &networkingv1.ServiceEntry{}
	if err := json.Unmarshal(b, se); err != nil {
		return nil, err
	}
	if se.Namespace == "" {
		se.Namespace = "default"
	}
	return se, nil
}

func waitFor(limit time.Duration, done func() bool) bool {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
