// Command etcd is etcd's own server main (etcdmain), built from go.etcd.io/etcd/server/v3 through the Go module
// proxy so the test control plane needs no downloaded release binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
