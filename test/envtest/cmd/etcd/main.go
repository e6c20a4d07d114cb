// Command etcd is the real etcd server (go.etcd.io/etcd/server/v3/etcdmain, the package behind
// upstream's etcd binary) at the version k8s.io/kubernetes pins. It is built here because
// `go install go.etcd.io/etcd/server/v3@...` refuses the module's replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
