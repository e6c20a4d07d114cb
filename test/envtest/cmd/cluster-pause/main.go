// Command cluster-pause is the pod sandbox ("pause") process of scripts/cluster.sh's single-node cluster:
// it holds the pod's namespaces, reaps the zombies it inherits as PID 1, and exits on SIGINT or SIGTERM.
// Built static (CGO_ENABLED=0) it is the only file of the sandbox image, so no registry is needed.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
