//go:build tools

// Pins kwok, the kubelet stand-in of gauntlet's local Kubernetes control plane
// (scripts/provision.sh builds sigs.k8s.io/kwok/cmd/kwok into $GAUNTLET_HOME/bin/kwok).
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
