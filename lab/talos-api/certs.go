package main

// TLS as a Talos machine presents it. Configured: apid serves a certificate issued by the machine's OS CA
// (machine.ca of its config) and requires a client certificate from an accepted CA; the roles come from the client
// certificate's organizations (v1.10.3 internal/app/apid/main.go: serverTLSConfig with ClientAuth
// RequireAndVerifyClientCert; pkg/grpc/middleware/authz/injector.go, mode Enabled). Maintenance: a self-signed
// certificate and no client certificate at all (internal/app/machined/pkg/controllers/runtime/maintenance_service.go,
// controllers/secrets/maintenance_certs.go); talosctl --insecure skips verifying it.

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

// clusterCA is the OS CA with its key: control planes' configs carry it; a worker's only the certificate (Talos
// workers get their apid certificate from trustd on a control plane, signed with this same CA).
func clusterCA(cfgs []config.Provider) (*x509.CertificateAuthority, error) {
	for _, c := range cfgs {
		ca := c.Machine().Security().IssuingCA()
		if ca != nil && len(ca.Key) > 0 {
			return x509.NewCertificateAuthorityFromCertificateAndKey(ca)
		}
	}

	return nil, fmt.Errorf("no control-plane config carries the OS CA key")
}

// apidServerTLS is a configured machine's apid TLS: issued by the OS CA for its address and hostname.
func apidServerTLS(cfg config.Provider, ca *x509.CertificateAuthority, n Node) (*tls.Config, error) {
	ip := net.ParseIP(n.Address)

	pair, err := x509.NewKeyPair(ca,
		x509.IPAddresses([]net.IP{ip}),
		x509.DNSNames([]string{n.Name}),
		x509.CommonName(n.Name),
		x509.NotAfter(time.Now().Add(24*time.Hour)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return nil, err
	}

	cert, err := tls.X509KeyPair(pair.CrtPEM, pair.KeyPEM)
	if err != nil {
		return nil, err
	}

	pool := stdx509.NewCertPool()
	for _, accepted := range cfg.Machine().Security().AcceptedCAs() {
		pool.AppendCertsFromPEM(accepted.Crt)
	}

	if issuing := cfg.Machine().Security().IssuingCA(); issuing != nil {
		pool.AppendCertsFromPEM(issuing.Crt)
	}

	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// proxyClientTLS is what apid presents to another machine's apid when it forwards a request: a client certificate of
// the OS CA with the impersonator role, so the target trusts the roles sent in metadata
// (controllers/secrets/api.go issues apid's client certificate with role.Impersonator).
func proxyClientTLS(ca *x509.CertificateAuthority) (*tls.Config, error) {
	pair, err := x509.NewKeyPair(ca,
		x509.CommonName("apid"),
		x509.Organization(string(role.Impersonator)),
		x509.NotAfter(time.Now().Add(24*time.Hour)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
	)
	if err != nil {
		return nil, err
	}

	cert, err := tls.X509KeyPair(pair.CrtPEM, pair.KeyPEM)
	if err != nil {
		return nil, err
	}

	pool := stdx509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CrtPEM)

	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// maintenanceTLS: a self-signed certificate for the machine's address, no client certificates.
func maintenanceTLS(n Node) (*tls.Config, error) {
	ca, err := x509.NewSelfSignedCertificateAuthority(x509.Organization("talos-maintenance"))
	if err != nil {
		return nil, err
	}

	pair, err := x509.NewKeyPair(ca,
		x509.IPAddresses([]net.IP{net.ParseIP(n.Address)}),
		x509.CommonName(n.Name),
		x509.NotAfter(time.Now().Add(24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return nil, err
	}

	cert, err := tls.X509KeyPair(pair.CrtPEM, pair.KeyPEM)
	if err != nil {
		return nil, err
	}

	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.NoClientCert, MinVersion: tls.VersionTLS12}, nil
}
