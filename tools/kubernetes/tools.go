//go:build tools

// The real Kubernetes control plane for the lab (issue #23): built from the official k8s.io/kubernetes module at the
// version the lab inventory names, sums checked (go.sum, -mod=readonly). Nothing of the product is Go.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
