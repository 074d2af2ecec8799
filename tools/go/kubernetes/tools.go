//go:build tools

// Pins the Kubernetes control plane for gauntlet's local cluster provider
// (scripts/provision.sh builds these four commands into $GAUNTLET_HOME/bin).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
