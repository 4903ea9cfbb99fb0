// Command coredns is CoreDNS with only the plugins the local cluster's DNS
// uses (cluster.local from the API server, nothing forwarded: pods must never
// reach the host's resolver). Fewer plugins than the release binary keep the
// cold build short; the server itself is CoreDNS's own coremain.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func main() { coremain.Run() }
