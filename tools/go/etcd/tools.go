//go:build tools

// Pins etcd for gauntlet's local Kubernetes control plane (scripts/provision.sh builds the
// server's main package, go.etcd.io/etcd/server/v3, into $GAUNTLET_HOME/bin/etcd).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
