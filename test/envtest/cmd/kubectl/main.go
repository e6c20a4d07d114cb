// Command kubectl is the real Kubernetes CLI (k8s.io/kubectl at the version matching k8s.io/kubernetes,
// see ../../go.mod), as upstream's cmd/kubectl builds it.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
