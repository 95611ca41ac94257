package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// runServer starts etcd and kube-apiserver, writes the admin kubeconfig,
// prints "ready" once /readyz succeeds and serves until SIGTERM/SIGINT.
// With --data-dir it can be stopped and started again with its objects.
func runServer(args []string) error {
	fs := flag.NewFlagSet("meshbridge-apiserver", flag.ExitOnError)
	kubeconfigOut := fs.String("kubeconfig-out", "", "path to write the admin kubeconfig to (required)")
	dataDir := fs.String("data-dir", "", "keep etcd's data, the ports, the serving certificate and the "+
		"credentials here; a server started again on the same folder has the same objects, address and "+
		"kubeconfig (default: a temporary folder, removed on exit)")
	address := fs.String("address", "127.0.0.1", "the IPv4 address to listen on, advertise and write into "+
		"the kubeconfig (the serving certificate is issued for it): a non-loopback one when other "+
		"clusters' istiod must reach this API server by an address they accept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfigOut == "" {
		return errors.New("usage: meshbridge-apiserver --kubeconfig-out PATH [--data-dir DIR] [--address IP] [-- KUBE-APISERVER-FLAGS...]")
	}

	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "meshbridge-apiserver-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ports, err := loadPorts(filepath.Join(dir, "ports.json"))
	if err != nil {
		return err
	}

	etcd, etcdURL, err := startEtcd(filepath.Join(dir, "etcd"), ports.EtcdClient, ports.EtcdPeer)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	apiPort := ports.API
	token, err := writeCredentials(dir)
	if err != nil {
		return err
	}
	certDir := filepath.Join(dir, "certs")
	// NewAPIServerCommand installs the SIGTERM/SIGINT handler itself; its
	// Execute returns after a graceful shutdown.
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(overridden([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + *address,
		"--advertise-address=" + *address,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + certDir, // self-signed serving cert is generated here
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		// The Endpoints of the "kubernetes" Service may not be a loopback
		// address, so do not maintain them at all.
		"--endpoint-reconciler-type=none",
	}, fs.Args())) // anything after "--" goes to kube-apiserver, replacing a default of the same flag
	errCh := make(chan error, 1)
	go func() { errCh <- cmd.Execute() }()

	host := "https://" + net.JoinHostPort(*address, strconv.Itoa(apiPort))
	if err := waitReady(host, token, filepath.Join(certDir, "apiserver.crt"), errCh); err != nil {
		return err
	}
	if err := writeKubeconfig(*kubeconfigOut, host, token, filepath.Join(certDir, "apiserver.crt")); err != nil {
		return err
	}
	fmt.Println("ready")
	return <-errCh
}

// serverPorts are the loopback ports of one server; kept in the data folder
// so that a restarted server listens where its kubeconfig points.
type serverPorts struct {
	API        int `json:"api"`
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
}

// loadPorts reads the ports of an earlier run from path, or picks free ones
// and writes them there.
func loadPorts(path string) (serverPorts, error) {
	var p serverPorts
	if b, err := os.ReadFile(path); err == nil {
		return p, json.Unmarshal(b, &p)
	} else if !errors.Is(err, os.ErrNotExist) {
		return p, err
	}
	// three distinct ports: each listener stays open until all three are picked
	for _, port := range []*int{&p.API, &p.EtcdClient, &p.EtcdPeer} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, err
		}
		defer l.Close()
		*port = l.Addr().(*net.TCPAddr).Port
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p, err
	}
	return p, os.WriteFile(path, b, 0o600)
}

// startEtcd runs a single-member embedded etcd on the given loopback ports
// and returns it with its client URL.
func startEtcd(dataDir string, clientPort, peerPort int) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true // throw-away test data
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", errors.New("timed out waiting for etcd")
	}
}

// writeCredentials writes a static token file with one system:masters admin
// and a service-account signing key into dir, and returns the admin token.
// The files of an earlier run in dir are kept.
func writeCredentials(dir string) (string, error) {
	if line, err := os.ReadFile(filepath.Join(dir, "tokens.csv")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "sa.key")); err == nil {
			token, _, _ := strings.Cut(string(line), ",")
			return token, nil
		}
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	line := token + ",admin,admin,system:masters\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return token, os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600)
}

// waitReady polls /readyz until it answers "ok" or the server exits.
func waitReady(host, token, caFile string, errCh <-chan error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-errCh:
			return fmt.Errorf("kube-apiserver exited: %v", err)
		default:
		}
		if _, err := os.Stat(caFile); err != nil {
			continue // serving cert not generated yet
		}
		cfg := &rest.Config{Host: host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && string(body) == "ok" {
			return nil
		}
	}
	return errors.New("timed out waiting for /readyz")
}

// writeKubeconfig writes an admin kubeconfig with the CA embedded.
func writeKubeconfig(path, host, token, caFile string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["meshbridge"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["meshbridge"] = &clientcmdapi.Context{Cluster: "meshbridge", AuthInfo: "admin"}
	cfg.CurrentContext = "meshbridge"
	return clientcmd.WriteToFile(*cfg, path)
}

// overridden is defaults followed by extra, without the defaults whose flag extra sets again: a
// list flag such as --authorization-mode would otherwise add to the default instead of replacing it.
func overridden(defaults, extra []string) []string {
	set := map[string]bool{}
	for _, arg := range extra {
		name, _, _ := strings.Cut(arg, "=")
		set[name] = true
	}
	out := make([]string, 0, len(defaults)+len(extra))
	for _, arg := range defaults {
		if name, _, _ := strings.Cut(arg, "="); !set[name] {
			out = append(out, arg)
		}
	}
	return append(out, extra...)
}
