//go:build tools

// CloudNativePG's operator manager for the test cluster (docs/test-cluster.md):
// built from the Go module proxy like the other node pieces. The same binary
// is the operator (`manager controller`) and, copied into each PostgreSQL pod
// by the bootstrap-controller init container, the instance manager
// (`manager instance run`).
package tools

import _ "github.com/cloudnative-pg/cloudnative-pg/cmd/manager"
