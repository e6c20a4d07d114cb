/**
 * The Helm chart (charts/datastate), deploy/ and examples/ without a running controller:
 *   - helm lint (values.schema.json in force: bad values are rejected naming the value);
 *   - the rendered RBAC is exactly the rules the controller needs, with and without workers, cluster-wide or
 *     per namespace; the Deployment runs the controller the way docs/deploy.md says;
 *   - the PodDisruptionBudget and NetworkPolicy; helm template | kube-score with exactly the exceptions that
 *     docs/deploy.md lists;
 *   - helm template | kubeconform, strict, with the CRD's own schema for DatasetStates and the schemas of the
 *     built-in kinds taken from the real API server's OpenAPI document (no download);
 *   - deploy/ is exactly what scripts/gen-deploy.ts renders from the chart;
 *   - every example parses with the project's manifest validation and is accepted by the real API server
 *     (server-side dry run), and the controller Pod passes the "restricted" Pod Security admission.
 *
 *   node --test test/kubernetes/helm-chart.test.ts
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CoreV1Api, CustomObjectsApi, loadYaml } from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import { installCrd } from '../helpers/k8s.ts';
import { kubeScore, kubeScorePolicy } from '../helpers/kube-score.ts';
import { kubeconformFor, type Kubeconform } from '../helpers/kubeconform.ts';
import { parseManifest } from '../../src/api/validate.ts';
import { CHART, DEPLOY, findTool, renderDeploy, ROOT } from '../../scripts/gen-deploy.ts';

// Rendered manifests and API objects are walked as plain JSON.

type Obj = Record<string, any>;

const G = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };
const EXAMPLES = join(ROOT, 'examples');

let env: Envtest;
let helm: string;
let kubeconform: string;
let work: string;
let conform: Kubeconform;

function run(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The pinned helm and kubeconform (and kube-score), built by scripts/envtest.sh if they are not there yet. */
function tools(): { helm: string; kubeconform: string } {
  let h = findTool('helm', 'HELM');
  let k = findTool('kubeconform', 'KUBECONFORM');
  if (!h || !k || !findTool('kube-score', 'KUBE_SCORE')) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'envtest.sh'), 'build'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    assert.equal(r.status, 0, 'scripts/envtest.sh build');
    h = findTool('helm', 'HELM');
    k = findTool('kubeconform', 'KUBECONFORM');
  }
  assert.ok(h && k, 'helm and kubeconform (scripts/envtest.sh build)');
  return { helm: h, kubeconform: k };
}

function template(...set: string[]): string {
  const r = run(helm, [
    'template',
    'datastate',
    CHART,
    '--namespace',
    'datastate-system',
    ...set.flatMap((s) => ['--set', s]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function docs(yamlText: string): Obj[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJSON() as Obj | null)
    .filter((d): d is Obj => d !== null);
}

function one(all: Obj[], kind: string, name?: string): Obj {
  const found = all.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` ${name}` : ''} (found ${found.length})`);
  return found[0]!;
}

async function retry<T>(what: string, fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      // Right after a CRD is Established its watch cache may still be starting (429).
      if (Date.now() > deadline || (e as { code?: number }).code !== 429)
        throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

before(async () => {
  ({ helm, kubeconform } = tools());
  work = mkdtempSync(join(tmpdir(), 'ds-helm-chart-'));
  env = await startEnvtest();
  conform = await kubeconformFor(env, {
    binary: kubeconform,
    crdFile: join(CHART, 'crds', 'datastate.dev_datasetstates.yaml'),
    dir: join(work, 'schemas'),
  });
  await installCrd(env, join(CHART, 'crds', 'datastate.dev_datasetstates.yaml'));
});

after(async () => {
  await env?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// ---- lint and values ----------------------------------------------------------------------------------------

test('helm lint --strict passes with the defaults and with every switch flipped', () => {
  for (const set of [
    [],
    ['workers.enabled=false'],
    ['serviceMonitor.enabled=true'],
    ['watchNamespaces={team-a,team-b}', 'replicaCount=1'],
    ['rbac.create=false', 'serviceAccount.create=false', 'serviceAccount.name=existing'],
  ]) {
    const r = run(helm, ['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    assert.equal(r.code, 0, `helm lint ${set.join(' ')}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('values.schema.json rejects bad values, naming the value', () => {
  const cases: [string, RegExp][] = [
    ['replicaCount=-1', /replicaCount/],
    ['image.pullPolicy=Sometimes', /pullPolicy/],
    ['workerz.enabled=true', /workerz/],
    ['workers.batchesPerWorker=lots', /batchesPerWorker/],
    ['watchNamespaces={Not_A_Namespace}', /watchNamespaces/],
    ['resources.requests.cpu=a-lot', /cpu/],
    ['serviceMonitor.interval=soon', /interval/],
    ['controller.concurrency=0', /concurrency/],
    ['podDisruptionBudget.minAvailable=0', /minAvailable/],
    ['networkPolicy.metricsFrom[0].podSelectr.matchLabels.app=prom', /podSelectr/],
    ['networkPolicy.egress[0].ports[0].protocol=ICMP', /protocol/],
    ['workers.resources.limits.memory=lots', /memory/],
  ];
  for (const [set, why] of cases) {
    const r = run(helm, ['lint', CHART, '--set', set]);
    assert.notEqual(r.code, 0, `helm lint --set ${set} must fail`);
    assert.match(r.stdout + r.stderr, /values don't meet the specifications of the schema/, set);
    assert.match(r.stdout + r.stderr, why, set);
  }
});

// ---- what the chart renders ---------------------------------------------------------------------------------

const CORE_RULES = [
  { apiGroups: ['datastate.dev'], resources: ['datasetstates'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['datastate.dev'], resources: ['datasetstates/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];
const WORKER_RULES = [
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update', 'patch', 'delete'] },
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: [''],
    resources: ['services'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'patch'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['create', 'patch'] },
];
const LEASE_RULES = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    resourceNames: ['datastate-controller'],
    verbs: ['get', 'update'],
  },
];

test("RBAC: the ClusterRole has exactly the controller's rules (workers switchable), leases only in the release namespace", () => {
  const all = docs(template());
  assert.deepEqual(one(all, 'ClusterRole').rules, [...CORE_RULES, ...WORKER_RULES]);
  const role = one(all, 'Role');
  assert.equal(role.metadata.namespace, 'datastate-system');
  assert.deepEqual(role.rules, LEASE_RULES);
  const crb = one(all, 'ClusterRoleBinding');
  assert.deepEqual(crb.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: 'datastate',
  });
  assert.deepEqual(crb.subjects, [
    { kind: 'ServiceAccount', name: 'datastate', namespace: 'datastate-system' },
  ]);
  const rb = one(all, 'RoleBinding');
  assert.deepEqual(
    [rb.metadata.namespace, rb.roleRef.name, rb.subjects],
    ['datastate-system', 'datastate-leader-election', crb.subjects],
  );
  assert.equal(one(all, 'ServiceAccount').metadata.name, 'datastate');
  // Nothing anywhere is a wildcard.
  for (const r of all.filter((d) => /Role$/.test(d.kind)).flatMap((d) => d.rules)) {
    for (const k of ['apiGroups', 'resources', 'verbs']) assert.ok(!r[k].includes('*'), JSON.stringify(r));
  }

  // The worker NetworkPolicy and PodDisruptionBudget rules follow their switches.
  assert.deepEqual(one(docs(template('networkPolicy.enabled=false')), 'ClusterRole').rules, [
    ...CORE_RULES,
    ...WORKER_RULES.filter((r) => r.apiGroups[0] !== 'networking.k8s.io'),
  ]);
  assert.deepEqual(one(docs(template('workers.podDisruptionBudget=false')), 'ClusterRole').rules, [
    ...CORE_RULES,
    ...WORKER_RULES.filter((r) => r.apiGroups[0] !== 'policy'),
  ]);

  const noWorkers = docs(template('workers.enabled=false'));
  assert.deepEqual(one(noWorkers, 'ClusterRole').rules, [
    ...CORE_RULES,
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  ]);
  const noWorkerArgs: string[] = one(noWorkers, 'Deployment').spec.template.spec.containers[0].args;
  assert.ok(
    !noWorkerArgs.some((a) => a.startsWith('--worker')),
    'no worker flags: embedding in the controller process',
  );
});

test('watchNamespaces: the ClusterRole is bound per namespace (no ClusterRoleBinding) and the controller watches only those', () => {
  const all = docs(template('watchNamespaces={team-a,team-b}'));
  assert.equal(all.filter((d) => d.kind === 'ClusterRoleBinding').length, 0);
  const bindings = all.filter((d) => d.kind === 'RoleBinding' && d.roleRef.kind === 'ClusterRole');
  assert.deepEqual(
    bindings.map((b) => b.metadata.namespace),
    ['team-a', 'team-b'],
  );
  for (const b of bindings)
    assert.deepEqual(b.subjects, [
      { kind: 'ServiceAccount', name: 'datastate', namespace: 'datastate-system' },
    ]);
  const args: string[] = one(all, 'Deployment').spec.template.spec.containers[0].args;
  assert.equal(args[args.indexOf('--namespaces') + 1], 'team-a,team-b');
});

test('the controller Deployment: image, leader election, probes on the metrics port, locked-down security context', () => {
  const all = docs(template());
  const d = one(all, 'Deployment');
  assert.equal(d.metadata.name, 'datastate-controller');
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'datastate');
  const c = pod.containers[0];
  const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
  const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(chart)![1];
  assert.equal(c.image, `ghcr.io/datastate/datastate:${appVersion}`);
  assert.equal(
    one(docs(template('image.tag=1.2.3', 'image.repository=registry.example/ds')), 'Deployment').spec.template
      .spec.containers[0].image,
    'registry.example/ds:1.2.3',
  );
  // Every flag the controller gets, in order (the CLI's own parser accepts them: helm-install.test.ts runs the
  // controller with exactly these arguments).
  assert.deepEqual(c.args, [
    'controller',
    '--leader-elect',
    '--lease-namespace',
    '$(POD_NAMESPACE)',
    '--lease-name',
    'datastate-controller',
    '--lease-duration',
    '15',
    '--metrics-port',
    '8080',
    '--concurrency',
    '2',
    '--resync',
    '300',
    '--status-every',
    '3',
    '--grace-period',
    '25',
    '--workers',
    '--worker-image',
    c.image,
    '--worker-model-mount',
    '/models',
    '--batches-per-worker',
    '4',
    '--worker-in-flight',
    '1',
    '--worker-ready-timeout',
    '300',
    '--worker-image-pull-policy',
    'IfNotPresent',
    '--worker-resources',
    JSON.stringify({
      limits: { 'ephemeral-storage': '2Gi', memory: '4Gi' },
      requests: { cpu: '500m', 'ephemeral-storage': '1Gi', memory: '1Gi' },
    }),
    '--worker-network-policy-namespace',
    '$(POD_NAMESPACE)',
    '--worker-network-policy-pod-labels',
    'app.kubernetes.io/component=controller,app.kubernetes.io/instance=datastate,app.kubernetes.io/name=datastate',
    '--worker-pdb',
  ]);
  // The labels the worker NetworkPolicy admits are exactly the controller Pods' selector labels.
  const admitted = Object.fromEntries(
    c.args[c.args.indexOf('--worker-network-policy-pod-labels') + 1]
      .split(',')
      .map((kv: string) => kv.split('=')),
  );
  assert.deepEqual(admitted, d.spec.selector.matchLabels);
  const bare: string[] = one(
    docs(template('networkPolicy.enabled=false', 'workers.podDisruptionBudget=false')),
    'Deployment',
  ).spec.template.spec.containers[0].args;
  assert.ok(
    !bare.some((a) => a.startsWith('--worker-network-policy') || a === '--worker-pdb'),
    bare.join(' '),
  );
  const claimArgs: string[] = one(
    docs(template('workers.modelClaim=models', 'workers.image=w:1')),
    'Deployment',
  ).spec.template.spec.containers[0].args;
  assert.deepEqual(
    claimArgs.slice(claimArgs.indexOf('--worker-image'), claimArgs.indexOf('--worker-model-mount')),
    ['--worker-image', 'w:1', '--worker-model-claim', 'models'],
  );
  const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e]));
  assert.deepEqual(env.POD_NAMESPACE.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
  assert.equal(env.DATASTATE_HOME.value, '/var/lib/datastate');
  assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(
    [c.livenessProbe.httpGet, c.readinessProbe.httpGet],
    [
      { path: '/healthz', port: 'metrics' },
      { path: '/readyz', port: 'metrics' },
    ],
  );
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.deepEqual(c.resources, {
    limits: { memory: '2Gi', 'ephemeral-storage': '3Gi' },
    requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '512Mi' },
  });
  const home = c.volumeMounts.find((m: Obj) => m.mountPath === '/var/lib/datastate');
  assert.ok(
    pod.volumes.find((v: Obj) => v.name === home.name).emptyDir,
    'DATASTATE_HOME is a writable emptyDir',
  );
  assert.equal(pod.terminationGracePeriodSeconds, 30);

  const svc = one(all, 'Service');
  assert.deepEqual(svc.spec.ports, [{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
  assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
  assert.equal(all.filter((x) => x.kind === 'ServiceMonitor').length, 0, 'no ServiceMonitor by default');
  const sm = one(
    docs(template('serviceMonitor.enabled=true', 'serviceMonitor.labels.release=prom')),
    'ServiceMonitor',
  );
  assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
  assert.deepEqual(sm.spec.selector.matchLabels, svc.spec.selector);
  assert.deepEqual(sm.spec.endpoints, [
    { port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' },
  ]);
  assert.equal(sm.metadata.labels.release, 'prom');
  const mounts = one(
    docs(
      template(
        'extraVolumes[0].name=corpus',
        'extraVolumes[0].persistentVolumeClaim.claimName=pmc',
        'extraVolumeMounts[0].name=corpus',
        'extraVolumeMounts[0].mountPath=/data/pmc-oa',
      ),
    ),
    'Deployment',
  ).spec.template.spec;
  assert.deepEqual(mounts.volumes.at(-1), { name: 'corpus', persistentVolumeClaim: { claimName: 'pmc' } });
  assert.deepEqual(mounts.containers[0].volumeMounts.at(-1), { name: 'corpus', mountPath: '/data/pmc-oa' });
});

test('NOTES.txt tells the user the next commands', () => {
  const r = run(helm, [
    'install',
    'datastate',
    CHART,
    '--namespace',
    'datastate-system',
    '--dry-run=client',
    '--kubeconfig',
    env.kubeconfigPath,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
  for (const line of [
    'kubectl apply -f examples/database-secret.yaml',
    'kubectl apply -f examples/ragas-1k.yaml',
    'kubectl get dss -w',
    'kubectl wait --for=condition=Ready dss/ragas-1k',
    'make k8s-ensure-ragas DOCS=1000',
  ]) {
    assert.ok(notes.includes(line), `NOTES has "${line}":\n${notes}`);
  }
});

test('PodDisruptionBudget: minAvailable 1 over the controller Pods when replicaCount > 1, none with one replica', () => {
  const all = docs(template());
  const d = one(all, 'Deployment');
  const pdb = one(all, 'PodDisruptionBudget');
  assert.equal(pdb.apiVersion, 'policy/v1');
  assert.equal(pdb.metadata.namespace, 'datastate-system');
  assert.deepEqual(pdb.spec, {
    minAvailable: 1,
    unhealthyPodEvictionPolicy: 'AlwaysAllow',
    selector: { matchLabels: d.spec.selector.matchLabels },
  });
  assert.equal(docs(template('replicaCount=1')).filter((x) => x.kind === 'PodDisruptionBudget').length, 0);
  assert.equal(
    docs(template('podDisruptionBudget.enabled=false')).filter((x) => x.kind === 'PodDisruptionBudget')
      .length,
    0,
  );
  assert.equal(
    one(docs(template('replicaCount=3', 'podDisruptionBudget.minAvailable=2')), 'PodDisruptionBudget').spec
      .minAvailable,
    2,
  );
});

test('NetworkPolicy: the metrics port from the monitoring namespace only, egress open unless narrowed', () => {
  const all = docs(template());
  const d = one(all, 'Deployment');
  const np = one(all, 'NetworkPolicy');
  assert.deepEqual(np.spec, {
    podSelector: { matchLabels: d.spec.selector.matchLabels },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ],
  });
  // Nobody: an empty ingress list.
  assert.deepEqual(one(docs(template('networkPolicy.metricsFrom=null')), 'NetworkPolicy').spec.ingress, []);
  const port = one(docs(template('metrics.port=9100')), 'NetworkPolicy').spec.ingress[0].ports;
  assert.deepEqual(port, [{ protocol: 'TCP', port: 9100 }]);
  // Narrowed egress: the user's rules, then the workers' port.
  const narrowed = one(
    docs(
      template(
        'networkPolicy.egress[0].to[0].ipBlock.cidr=10.20.0.0/16',
        'networkPolicy.egress[0].ports[0].port=1972',
      ),
    ),
    'NetworkPolicy',
  ).spec;
  assert.deepEqual(narrowed.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(narrowed.egress, [
    { to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ port: 1972 }] },
    {
      to: [
        {
          namespaceSelector: {},
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'datastate-worker' } },
        },
      ],
      ports: [{ protocol: 'TCP', port: 8080 }],
    },
  ]);
  assert.equal(
    docs(template('networkPolicy.enabled=false')).filter((x) => x.kind === 'NetworkPolicy').length,
    0,
  );
});

// ---- kube-score ---------------------------------------------------------------------------------------------

test('kube-score: the rendered chart has no finding beyond the exceptions docs/deploy.md lists', () => {
  const policy = kubeScorePolicy();
  assert.deepEqual(policy, {
    flags: ['--ignore-container-cpu-limit', '--ignore-test', 'container-image-pull-policy'],
    acceptedWarnings: ['pod-networkpolicy', 'deployment-replicas'],
  });
  for (const set of [
    [],
    ['workers.enabled=false'],
    ['watchNamespaces={team-a,team-b}'],
    ['networkPolicy.egress[0].to[0].ipBlock.cidr=10.20.0.0/16'],
    ['replicaCount=3'],
  ]) {
    const r = kubeScore(template(...set));
    assert.deepEqual(r.findings, [], set.join(' '));
    assert.equal(r.code, 0, set.join(' '));
    assert.ok(r.scored.includes('Deployment/apps/v1/datastate-system/datastate-controller'), r.scored.join());
  }
  // With egress narrowed, even the accepted egress warning is gone.
  const strict = kubeScore(template('networkPolicy.egress[0].to[0].ipBlock.cidr=10.20.0.0/16'), {
    ...policy,
    acceptedWarnings: [],
  });
  assert.deepEqual(strict.findings, []);
});

test('kube-score really checks: without the NetworkPolicy, the PDB and the ephemeral-storage limits it fails', () => {
  const r = kubeScore(
    template(
      'networkPolicy.enabled=false',
      'podDisruptionBudget.enabled=false',
      'resources.limits.ephemeral-storage=null',
    ),
  );
  assert.notEqual(r.code, 0);
  assert.deepEqual(
    r.findings.map((f) => `${f.grade} ${f.check}`).sort(),
    [
      'CRITICAL container-ephemeral-storage-request-and-limit',
      'CRITICAL deployment-has-poddisruptionbudget',
      'CRITICAL pod-networkpolicy',
    ],
    JSON.stringify(r.findings),
  );
});

// ---- kubeconform --------------------------------------------------------------------------------------------

test("helm template --include-crds | kubeconform: every manifest valid against the real API server's schemas and the CRD's", () => {
  for (const set of [[], ['workers.enabled=false'], ['watchNamespaces={team-a,team-b}']]) {
    const text = run(helm, [
      'template',
      'datastate',
      CHART,
      '--namespace',
      'datastate-system',
      '--include-crds',
      ...set.flatMap((s) => ['--set', s]),
    ]).stdout;
    const { code, report, problems } = conform.run(text);
    assert.deepEqual(problems, [], set.join(' '));
    assert.equal(code, 0);
    assert.equal(report.summary.skipped, 0);
    assert.equal(report.summary.valid, docs(text).length, 'every document validated');
  }
  // The ServiceMonitor's CRD (Prometheus Operator) is not on this server: everything else is still checked.
  const withMonitor = template('serviceMonitor.enabled=true');
  const { problems } = conform.run(withMonitor, ['-skip', 'ServiceMonitor']);
  assert.deepEqual(
    problems.filter((p) => !p.startsWith('ServiceMonitor/')),
    [],
  );
});

test('kubeconform really checks: a misspelt Deployment field and a bad DatasetState are rejected', () => {
  const bad = template().replace('imagePullPolicy: IfNotPresent', 'imagePullPolcy: IfNotPresent');
  const d = conform.run(bad);
  assert.notEqual(d.code, 0);
  assert.ok(
    d.problems.some((p) => p.startsWith('Deployment/datastate-controller') && /imagePullPolcy/.test(p)),
    d.problems.join('\n'),
  );
  const dss = readFileSync(join(EXAMPLES, 'ragas-1k.yaml'), 'utf8');
  const r = conform.run(
    dss.replace('docCount: 1000', 'docCount: 0').replace('mode: AutoFix', 'mode: AutoFix\n  colour: red'),
  );
  assert.notEqual(r.code, 0);
  assert.ok(
    r.problems.some((p) => /docCount/.test(p) && /colour/.test(p)),
    r.problems.join('\n'),
  );
});

test('deploy/ is exactly what scripts/gen-deploy.ts renders from the chart (run node scripts/gen-deploy.ts)', () => {
  const files = renderDeploy(helm);
  for (const [name, text] of files)
    assert.equal(
      readFileSync(join(DEPLOY, name), 'utf8'),
      text,
      `deploy/${name} is stale: run node scripts/gen-deploy.ts`,
    );
  assert.deepEqual(
    readdirSync(DEPLOY)
      .filter((f) => f !== 'crds')
      .sort(),
    [...files.keys()].sort(),
  );
  const text = readdirSync(DEPLOY)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .map((f) => readFileSync(join(DEPLOY, f), 'utf8'))
    .concat(readFileSync(join(DEPLOY, 'crds', 'datastate.dev_datasetstates.yaml'), 'utf8'))
    .join('\n---\n');
  const { problems, report } = conform.run(text);
  assert.deepEqual(problems, []);
  assert.equal(report.summary.valid, 11);
});

// ---- examples -----------------------------------------------------------------------------------------------

function exampleFiles(): string[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

test("every example DatasetState parses with the project's manifest validation and uses the example Secret", () => {
  assert.deepEqual(exampleFiles(), [
    'colbert-pipeline.yaml',
    'database-secret.yaml',
    'dry-run.yaml',
    'orchestrator-minilm.yaml',
    'ragas-10k.yaml',
    'ragas-1k.yaml',
    'ragas-5k.yaml',
    'token-embeddings.yaml',
    'validate-only.yaml',
  ]);
  const secret = loadYaml<Obj>(readFileSync(join(EXAMPLES, 'database-secret.yaml'), 'utf8'));
  assert.equal(secret.kind, 'Secret');
  const seen = new Map<string, Obj>();
  for (const f of exampleFiles().filter((x) => x !== 'database-secret.yaml')) {
    const m = parseManifest(readFileSync(join(EXAMPLES, f), 'utf8'), f);
    assert.ok(!seen.has(m.metadata.name), `${f}: name ${m.metadata.name} is unique`);
    seen.set(f, m);
    assert.equal(m.spec.database.connectionSecretRef?.name, secret.metadata.name, f);
    assert.ok(
      secret.stringData[m.spec.database.connectionSecretRef!.key],
      `${f}: the Secret has key ${m.spec.database.connectionSecretRef!.key}`,
    );
    assert.equal(m.spec.database.url, undefined, `${f}: no credentials in the manifest`);
  }
  const s = (f: string) => seen.get(f)!.spec;
  assert.deepEqual(
    ['ragas-1k.yaml', 'ragas-5k.yaml', 'ragas-10k.yaml'].map((f) => [
      s(f).targetState,
      s(f).docCount,
      s(f).mode,
    ]),
    [
      ['ragas-eval', 1000, 'AutoFix'],
      ['ragas-eval', 5000, 'AutoFix'],
      ['ragas-eval', 10000, 'AutoFix'],
    ],
  );
  assert.equal(s('token-embeddings.yaml').targetState, 'token-embeddings');
  assert.equal(s('validate-only.yaml').mode, 'ValidateOnly');
  assert.equal(s('dry-run.yaml').mode, 'DryRun');
  // The two token tables of the original project (docs/databases.md, "The consumer's own tables").
  assert.deepEqual(
    ['orchestrator-minilm.yaml', 'colbert-pipeline.yaml'].map((f) => [
      s(f).database.columns.tokenEmbeddings,
      s(f).embedding.dimension,
    ]),
    [
      [
        { docId: 'doc_id', tokenIndex: 'token_index', tokenText: 'token_text', embedding: 'token_embedding' },
        384,
      ],
      [{ docId: 'doc_id', tokenIndex: 'tok_pos', tokenText: 'tok_text', embedding: 'tok_vec' }, 128],
    ],
  );
});

test('examples/ragas-1k, -5k and -10k are exactly what `make k8s-render` makes of the template', () => {
  for (const [docs, file] of [
    [1000, 'ragas-1k.yaml'],
    [5000, 'ragas-5k.yaml'],
    [10000, 'ragas-10k.yaml'],
  ] as const) {
    const r = run('make', ['-s', '-f', join(ROOT, 'mk', 'k8s.mk'), 'k8s-render', `DOCS=${docs}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      readFileSync(join(EXAMPLES, file), 'utf8'),
      `${file} differs from the template's rendering`,
    );
  }
});

test('every example is accepted by the real API server (server-side dry run) and by kubeconform', async () => {
  const core = env.kc.makeApiClient(CoreV1Api);
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const ns = 'examples';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const f of exampleFiles()) {
    const text = readFileSync(join(EXAMPLES, f), 'utf8');
    const body = loadYaml<Obj>(text);
    if (body.kind === 'Secret') {
      const created = await core.createNamespacedSecret({
        namespace: ns,
        body: body as never,
        dryRun: 'All',
        fieldValidation: 'Strict',
      });
      assert.equal(created.metadata?.name, 'ragas-db');
    } else {
      const created = await retry(f, () =>
        custom.createNamespacedCustomObject({
          ...G,
          namespace: ns,
          body,
          dryRun: 'All',
          fieldValidation: 'Strict',
        }),
      );
      assert.equal(created.metadata.name, body.metadata.name, f);
      // The server filled in the defaults.
      assert.equal(created.spec.selection.orderBy, 'doc_id', f);
    }
    const { problems } = conform.run(text);
    assert.deepEqual(problems, [], f);
  }
  // Nothing was stored.
  const list = (await custom.listNamespacedCustomObject({ ...G, namespace: ns })) as { items: unknown[] };
  assert.equal(list.items.length, 0);
});

test('the controller Pod passes the "restricted" Pod Security Standard (admission on the real API server)', async () => {
  const core = env.kc.makeApiClient(CoreV1Api);
  const ns = 'restricted';
  await core.createNamespace({
    body: { metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
  });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'datastate' } } });
  const d = one(docs(template()), 'Deployment');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'controller', namespace: ns, labels: d.spec.template.metadata.labels },
    spec: d.spec.template.spec,
  };
  const created = await core.createNamespacedPod({ namespace: ns, body: pod as never, dryRun: 'All' });
  assert.equal(created.metadata?.name, 'controller');
  // The admission is really enforcing: the same Pod allowed to escalate privileges is refused.
  const loose = structuredClone(pod);
  loose.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
  await assert.rejects(
    core.createNamespacedPod({ namespace: ns, body: loose as never, dryRun: 'All' }),
    (e: Obj) =>
      e.code === 403 &&
      /violates PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation/.test(String(e.body)),
  );
});
