//go:build tools

// kube-router's network policy controller for the test cluster's node
// (docs/test-cluster.md): built from the Go module proxy like the other node
// pieces, run with --run-firewall only (no router, no service proxy).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
