# datastate on Kubernetes: make targets wrapping helm and kubectl. Included from the Makefile; also runs alone
# (make -f mk/k8s.mk TARGET). They talk to the cluster of the current kubectl context (KUBECONFIG).
#   make k8s-install                  install or upgrade the controller: helm (charts/datastate), else kubectl apply -k deploy/
#   make k8s-ensure-ragas DOCS=1000   apply the ragas-eval DatasetState, wait until it is Ready, print its status
#   make k8s-validate DOCS=1000       ValidateOnly: check, write nothing; exit 1 listing the failing checks
#   make k8s-status                   the controller, its leader, every DatasetState and its failing checks
#   make k8s-render DOCS=1000         print the DatasetState manifest k8s-ensure-ragas applies (k8s-validate: the same, ValidateOnly, NAME-validate)
# Variables (defaults below): DOCS, K8S_NAMESPACE (of the DatasetStates; default: the context's), K8S_DB_SECRET,
# K8S_DIALECT, K8S_SOURCE, K8S_MODEL (paths inside the controller Pod), K8S_DIM, K8S_TIMEOUT, K8S_FAIL_AFTER, K8S_RELEASE,
# K8S_RELEASE_NAMESPACE, K8S_HELM_FLAGS (e.g. "--set replicaCount=1"), KUBECTL, HELM (empty: no helm).

SHELL := /bin/bash
K8S_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

DOCS ?= 1000
KUBECTL ?= kubectl
# helm on PATH, else the pinned one scripts/envtest.sh builds; HELM= (empty) uses kubectl apply -k deploy/.
HELM ?= $(firstword $(shell command -v helm 2>/dev/null) \
	$(wildcard $(or $(DATASTATE_ENVTEST_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/datastate-envtest)/helm-*/bin/helm))

K8S_RELEASE ?= datastate
K8S_RELEASE_NAMESPACE ?= datastate-system
K8S_HELM_FLAGS ?=
# After installing, wait this long for the controller rollout (empty: do not wait).
K8S_INSTALL_WAIT ?= 5m

K8S_NAMESPACE ?=
K8S_DB_SECRET ?= ragas-db
K8S_DIALECT ?= iris
K8S_SOURCE ?= /data/pmc-oa
K8S_MODEL ?= /models/encoder
K8S_DIM ?= 768
K8S_TIMEOUT ?= 2h
# k8s-ensure-ragas gives up sooner when the DatasetState stays Failed or Degraded (not healing) this many
# seconds: the controller retries such a pass with backoff, but a wait of K8S_TIMEOUT would hide the error.
K8S_FAIL_AFTER ?= 120
# Seconds k8s-validate waits for the verdict.
K8S_VALIDATE_TIMEOUT ?= 600
# 1000 -> 1k, 5000 -> 5k, 10000 -> 10k, 250 -> 250
K8S_DOCS_LABEL = $(if $(filter %000,$(DOCS)),$(patsubst %000,%k,$(DOCS)),$(DOCS))
K8S_NAME ?= ragas-$(K8S_DOCS_LABEL)
K8S_VALIDATE_NAME ?= $(K8S_NAME)-validate

# The chart's full name for a release name (charts/datastate/templates/_helpers.tpl).
K8S_FULLNAME = $(if $(findstring datastate,$(K8S_RELEASE)),$(K8S_RELEASE),$(K8S_RELEASE)-datastate)
K8S_NS = $(if $(K8S_NAMESPACE),-n $(K8S_NAMESPACE))
K8S_KUBECTL_NS = $(KUBECTL) $(K8S_NS)

# examples/ragas-template.yaml.tmpl with the variables filled in: $(call k8s_render,NAME,MODE)
k8s_render = sed -e '/^\#@/d' -e 's|__NAME__|$(1)|g' -e 's|__MODE__|$(2)|g' -e 's|__DOCS__|$(DOCS)|g' \
	-e 's|__TARGET__|ragas-eval|g' -e 's|__DIALECT__|$(K8S_DIALECT)|g' -e 's|__DB_SECRET__|$(K8S_DB_SECRET)|g' \
	-e 's|__SOURCE__|$(K8S_SOURCE)|g' -e 's|__MODEL__|$(K8S_MODEL)|g' -e 's|__DIM__|$(K8S_DIM)|g' \
	'$(K8S_ROOT)/examples/ragas-template.yaml.tmpl'

# Prints one DatasetState's phase, conditions and checks (and lastError): $(call k8s_report,NAME)
k8s_report = $(K8S_KUBECTL_NS) get dss $(1) -o jsonpath='phase: {.status.phase}{"\n"}{range .status.conditions[*]}condition {.type}={.status} ({.reason}): {.message}{"\n"}{end}{range .status.checks[*]}check {.name}: passed={.passed}  {.message}{"\n"}{end}lastError: {.status.lastError}{"\n"}' | sed '/^lastError: $$/d'
k8s_failing = $(K8S_KUBECTL_NS) get dss $(1) -o jsonpath='{range .status.checks[?(@.passed==false)]}FAILED {.name}: {.message}{"\n"}{end}'

.PHONY: k8s-install k8s-render k8s-ensure-ragas k8s-validate k8s-status k8s-help

k8s-help:
	@sed -n '1,13{/^#/p}' '$(K8S_ROOT)/mk/k8s.mk'

k8s-install:
ifneq ($(strip $(HELM)),)
	@# helm installs crds/ on the first install only: apply the CRD first, so an upgrade also gets a new schema.
	@if command -v '$(KUBECTL)' >/dev/null 2>&1; then \
	  echo '$(KUBECTL) apply --server-side --force-conflicts -f charts/datastate/crds/'; \
	  '$(KUBECTL)' apply --server-side --force-conflicts -f '$(K8S_ROOT)/charts/datastate/crds/'; fi
	'$(HELM)' upgrade --install $(K8S_RELEASE) '$(K8S_ROOT)/charts/datastate' --namespace $(K8S_RELEASE_NAMESPACE) \
	  --create-namespace $(K8S_HELM_FLAGS)
else
	@[ '$(K8S_RELEASE)/$(K8S_RELEASE_NAMESPACE)' = 'datastate/datastate-system' ] || { \
	  echo 'k8s-install: without helm, deploy/ installs release "datastate" in "datastate-system" only' >&2; exit 2; }
	$(KUBECTL) apply -k '$(K8S_ROOT)/deploy/'
endif
ifneq ($(strip $(K8S_INSTALL_WAIT)),)
	$(KUBECTL) -n $(K8S_RELEASE_NAMESPACE) rollout status deployment/$(K8S_FULLNAME)-controller --timeout=$(K8S_INSTALL_WAIT)
endif

k8s-render:
	@$(call k8s_render,$(K8S_NAME),AutoFix)

k8s-ensure-ragas:
	@set -euo pipefail; \
	[[ '$(K8S_TIMEOUT)' =~ ^([0-9]+)([smh]?)$$ && '$(K8S_FAIL_AFTER)' =~ ^[0-9]+$$ ]] || { \
	  echo "K8S_TIMEOUT must be N, Ns, Nm or Nh and K8S_FAIL_AFTER seconds (got '$(K8S_TIMEOUT)', '$(K8S_FAIL_AFTER)')" >&2; exit 2; }; \
	[[ '$(K8S_TIMEOUT)' =~ ^([0-9]+)([smh]?)$$ ]]; \
	case "$${BASH_REMATCH[2]}" in h) limit=$$((BASH_REMATCH[1] * 3600));; m) limit=$$((BASH_REMATCH[1] * 60));; \
	  *) limit=$${BASH_REMATCH[1]};; esac; \
	$(call k8s_render,$(K8S_NAME),AutoFix) | $(K8S_KUBECTL_NS) apply -f -; \
	echo "waiting up to $(K8S_TIMEOUT) for dss/$(K8S_NAME) to be Ready, less if it stays Failed or Degraded for $(K8S_FAIL_AFTER) s (progress: $(K8S_KUBECTL_NS) get dss -w)"; \
	deadline=$$((SECONDS + limit)); bad_since=; \
	while :; do \
	  IFS=/ read -r gen seen phase ready < <($(K8S_KUBECTL_NS) get dss $(K8S_NAME) \
	    -o jsonpath='{.metadata.generation}/{.status.observedGeneration}/{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}{"\n"}') || true; \
	  if [ "$${seen:-}" = "$${gen:-}" ] && [ "$${ready:-}" = True ]; then break; fi; \
	  if [ "$${seen:-}" = "$${gen:-}" ] && [[ "$${phase:-}" =~ ^(Failed|Degraded)$$ ]]; then \
	    bad_since=$${bad_since:-$$SECONDS}; \
	    if [ $$((SECONDS - bad_since)) -ge $(K8S_FAIL_AFTER) ]; then \
	      echo "dss/$(K8S_NAME) has been $$phase for $(K8S_FAIL_AFTER) s (the controller keeps retrying; kubectl get dss -w):" >&2; \
	      $(call k8s_report,$(K8S_NAME)) >&2; exit 1; fi; \
	  else bad_since=; fi; \
	  if [ $$SECONDS -ge $$deadline ]; then \
	    echo "dss/$(K8S_NAME) is not Ready after $(K8S_TIMEOUT):" >&2; \
	    $(call k8s_report,$(K8S_NAME)) >&2; exit 1; fi; \
	  sleep 2; \
	done; \
	$(K8S_KUBECTL_NS) wait --for=condition=Ready dss/$(K8S_NAME) --timeout=60s; \
	$(K8S_KUBECTL_NS) get dss $(K8S_NAME); \
	$(call k8s_report,$(K8S_NAME)); \
	echo READY

k8s-validate:
	@set -euo pipefail; \
	$(K8S_KUBECTL_NS) delete dss $(K8S_VALIDATE_NAME) --ignore-not-found --wait >/dev/null; \
	$(call k8s_render,$(K8S_VALIDATE_NAME),ValidateOnly) | $(K8S_KUBECTL_NS) create -f -; \
	deadline=$$((SECONDS + $(K8S_VALIDATE_TIMEOUT))); \
	while :; do \
	  IFS=/ read -r gen seen phase < <($(K8S_KUBECTL_NS) get dss $(K8S_VALIDATE_NAME) \
	    -o jsonpath='{.metadata.generation}/{.status.observedGeneration}/{.status.phase}{"\n"}') || true; \
	  if [ "$${seen:-}" = "$${gen:-}" ] && [[ "$${phase:-}" =~ ^(Ready|Degraded|Failed)$$ ]]; then break; fi; \
	  if [ $$SECONDS -ge $$deadline ]; then \
	    echo "dss/$(K8S_VALIDATE_NAME): no verdict after $(K8S_VALIDATE_TIMEOUT) s (phase: $${phase:-none})" >&2; exit 1; fi; \
	  sleep 1; \
	done; \
	$(K8S_KUBECTL_NS) get dss $(K8S_VALIDATE_NAME); \
	if [ "$$phase" = Ready ]; then echo "VALID: every check passed"; exit 0; fi; \
	echo "NOT VALID ($$phase):" >&2; \
	$(call k8s_failing,$(K8S_VALIDATE_NAME)) >&2; \
	$(K8S_KUBECTL_NS) get dss $(K8S_VALIDATE_NAME) -o jsonpath='{.status.lastError}' | sed '/^$$/d; s/^/lastError: /' >&2; \
	exit 1

k8s-status:
	@echo "== controller ($(K8S_RELEASE_NAMESPACE))"
	@$(KUBECTL) -n $(K8S_RELEASE_NAMESPACE) get deployment,pods -l app.kubernetes.io/name=datastate,app.kubernetes.io/instance=$(K8S_RELEASE) || true
	@printf 'leader: '; $(KUBECTL) -n $(K8S_RELEASE_NAMESPACE) get lease $(K8S_FULLNAME)-controller \
	  -o jsonpath='{.spec.holderIdentity} (renewed {.spec.renewTime}){"\n"}' 2>/dev/null || echo none
	@echo "== DatasetStates"
	@$(KUBECTL) get dss $(if $(K8S_NAMESPACE),-n $(K8S_NAMESPACE),-A)
	@$(KUBECTL) get dss $(if $(K8S_NAMESPACE),-n $(K8S_NAMESPACE),-A) -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} ({.status.phase}){range .status.checks[?(@.passed==false)]}|FAILED {.name}: {.message}{end}{"|"}{.status.lastError}{"\n"}{end}' \
	  | awk -F'|' '{ n = 0; for (i = 2; i < NF; i++) if ($$i != "") n++; if (n == 0 && $$NF == "") next; print "== " $$1; \
	      for (i = 2; i < NF; i++) print "   " $$i; if ($$NF != "") print "   lastError: " $$NF }'
