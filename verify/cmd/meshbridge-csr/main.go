// Command meshbridge-csr asks an istiod for a workload certificate the way a sidecar's agent does:
// an ECDSA key and a CSR for a SPIFFE identity, sent to IstioCertificateService/CreateCertificate
// on istiod's TLS gRPC port with a Kubernetes service-account token (audience istio-ca) as bearer
// credential. make e2e runs it against the istiod it starts on each primary cluster (docs/e2e.md,
// "The istiod phase"). It trusts istiod's serving certificate by the mesh root only, so a chain
// that does not lead to the root already fails here; it prints the chain istiod returns (PEM,
// leaf first) for openssl to verify.
//
// Usage:
//
//	meshbridge-csr --addr HOST:PORT --root ROOT.pem --token TOKEN-FILE --san spiffe://... [--cluster ID]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	pb "istio.io/api/security/v1alpha1"
	"istio.io/istio/security/pkg/pki/util"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "meshbridge-csr:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "", "istiod's secure gRPC address (host:port)")
	rootFile := flag.String("root", "", "PEM file of the mesh root certificate")
	tokenFile := flag.String("token", "", "file holding the service-account token (audience istio-ca)")
	san := flag.String("san", "", "the SPIFFE identity to ask for (spiffe://TRUST-DOMAIN/ns/NS/sa/SA)")
	clusterID := flag.String("cluster", "", "the Istio cluster the token comes from (ClusterID metadata)")
	serverName := flag.String("server-name", "istiod.istio-system.svc", "the name istiod's certificate is checked for")
	flag.Parse()
	if *addr == "" || *rootFile == "" || *tokenFile == "" || *san == "" {
		return errors.New("--addr, --root, --token and --san are required")
	}
	rootPEM, err := os.ReadFile(*rootFile)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return fmt.Errorf("%s holds no PEM certificate", *rootFile)
	}
	csr, _, err := util.GenCSR(util.CertOptions{Host: *san, ECSigAlg: util.EcdsaSigAlg})
	if err != nil {
		return fmt.Errorf("CSR: %w", err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(token)))
	if *clusterID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "clusterid", *clusterID)
	}
	resp, err := pb.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &pb.IstioCertificateRequest{
		Csr:              string(csr),
		ValidityDuration: int64(time.Hour / time.Second),
	})
	if err != nil {
		return fmt.Errorf("CreateCertificate at %s: %w", *addr, err)
	}
	if len(resp.GetCertChain()) == 0 {
		return errors.New("istiod returned no certificate")
	}
	for _, pem := range resp.GetCertChain() {
		fmt.Print(strings.TrimSpace(pem) + "\n")
	}
	return nil
}
