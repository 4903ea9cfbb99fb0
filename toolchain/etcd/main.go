// Command etcd is the released etcd server, built from the Go module proxy
// because no prebuilt binary can be downloaded on the machines pgshift is
// tested on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
