# A real single-node Kubernetes cluster on this machine and the datastate image for it (docs/testing-kubernetes.md).
#   make image           the datastate image as an OCI archive, built without a container engine (.datastate/image/)
#   make cluster-build   build (once, cached) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                        kubectl and the pause image; install containerd, runc and the CNI plugins (apt-get)
#   make cluster-up      start the cluster (root), import the image; KUBECONFIG=.datastate/cluster/kubeconfig
#   make cluster-demo DOCS=200  on the running cluster: chart + image, PostgreSQL, corpus, model; k8s-ensure-ragas
#   make cluster-down    stop it and remove everything it made (processes, mounts, interfaces, cgroups, rules)
.PHONY: image cluster-build cluster-up cluster-down cluster-status cluster-demo cluster-demo-clean

image: deps
	scripts/build-image.sh

cluster-build:
	scripts/cluster.sh build

cluster-up: image
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

cluster-status:
	scripts/cluster.sh status

cluster-demo: image
	@scripts/cluster.sh status >/dev/null; scripts/cluster-demo.sh $(DOCS)
cluster-demo-clean:
	scripts/cluster-demo.sh clean
