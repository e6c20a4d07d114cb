// Command kube-controller-manager is the real Kubernetes controller manager, built from the published
// k8s.io/kubernetes module (see ../../go.mod) the way upstream's cmd/kube-controller-manager is: every
// controller (Deployments make ReplicaSets make Pods, EndpointSlices, service-account tokens, ...).
package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones, as upstream

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	command := app.NewControllerManagerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
