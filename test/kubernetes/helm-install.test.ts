/**
 * `helm install` of charts/datastate on a real kube-apiserver (test/envtest), then the controller run with the
 * chart's ServiceAccount token (not the admin's) and the chart's own Deployment arguments: it reconciles a
 * DatasetState whose database URL is in a Secret to Ready, and creates the worker Secret, NetworkPolicy,
 * Service, PodDisruptionBudget and Deployment of another one, which proves the RBAC is enough; kube-score
 * scores those objects as stored. Access reviews prove it has nothing more.
 *
 * There is no kubelet here: the chart's Pods are never started (no image can be built or pulled on this
 * machine), so the controller runs as a child process of the test with the ServiceAccount's token, exactly as
 * the Pod would run it apart from the in-cluster config.
 *
 *   node --test test/kubernetes/helm-install.test.ts
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  dumpYaml,
  NetworkingV1Api,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type KubernetesObject,
  type V1ResourceAttributes,
} from '@kubernetes/client-node';
import { kubeScore } from '../helpers/kube-score.ts';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import { waitFor as waitForRaw } from '../helpers/k8s.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { CLI, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { CHART, findTool, ROOT } from '../../scripts/gen-deploy.ts';

// Rendered manifests and API objects are walked as plain JSON.

type Obj = Record<string, any>;

const RELEASE = 'datastate';
const RELEASE_NS = 'datastate-system';
const SA = 'datastate';
const USER = `system:serviceaccount:${RELEASE_NS}:${SA}`;
const GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${RELEASE_NS}`, 'system:authenticated'];
const NS = 'ragas';
const G = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };

let env: Envtest;
let helm: string;
let dir: string;
let saKubeconfig: string;
let saToken: string;
let controller: { child: ChildProcess; log: string[] } | null = null;

function helmRun(...args: string[]) {
  const r = spawnSync(helm, ['--kubeconfig', env.kubeconfigPath, ...args], { cwd: ROOT, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 120_000,
): Promise<T> {
  return waitForRaw(what, fn, {
    timeoutMs,
    context: () => (controller ? `controller log:\n  ${controller.log.slice(-20).join('\n  ')}` : ''),
  });
}

/** Controller log lines about a refused request, shortened to what was refused. */
function refusals(log: string[]): string[] {
  return log
    .filter((l) => /forbidden|\b403\b/i.test(l))
    .map((l) => {
      const plain = l.replace(/\\+/g, '');
      const cannot = /cannot \w+ resource "[^"]*" in API group "[^"]*"(?: in the namespace "[^"]*")?/.exec(
        plain,
      )?.[0];
      return `${(JSON.parse(l) as { msg?: string }).msg}: ${cannot ?? plain.slice(0, 300)}`;
    });
}

/** An API object (client-library class instances) as plain JSON, for deepEqual. */
function plain(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

function condition(obj: Obj, type: string): Obj | undefined {
  return obj?.status?.conditions?.find((c: Obj) => c.type === type);
}

/** `$(VAR)` in a container's args, expanded from its env the way the kubelet does (fieldRefs included). */
function expandArgs(container: Obj, namespace: string, podName: string): string[] {
  const values = new Map<string, string>();
  for (const e of container.env ?? []) {
    if (e.value !== undefined) values.set(e.name, e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') values.set(e.name, namespace);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') values.set(e.name, podName);
  }
  return (container.args as string[]).map((a) =>
    a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => values.get(v) ?? m),
  );
}

/** Asks the API server whether the chart's ServiceAccount may do something (a SubjectAccessReview, as admin). */
async function can(attrs: V1ResourceAttributes): Promise<boolean> {
  const authz = env.kc.makeApiClient(AuthorizationV1Api);
  const r = await authz.createSubjectAccessReview({
    body: { spec: { user: USER, groups: GROUPS, resourceAttributes: attrs } },
  });
  return r.status?.allowed === true;
}

before(async () => {
  const h = findTool('helm', 'HELM');
  // helm, and kube-score for the worker manifests (a cache from before kube-score was pinned has only helm).
  if (!h || !findTool('kube-score', 'KUBE_SCORE')) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'envtest.sh'), 'build'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    assert.equal(r.status, 0, 'scripts/envtest.sh build');
  }
  helm = h ?? findTool('helm', 'HELM')!;
  dir = mkdtempSync(join(tmpdir(), 'ds-helm-install-'));
  await smallModelDir();
  env = await startEnvtest();
});

after(async () => {
  if (controller && controller.child.exitCode === null && controller.child.signalCode === null)
    controller.child.kill('SIGKILL');
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('helm install on the real API server: the CRD from crds/, the ServiceAccount, RBAC, Deployment, Service, NetworkPolicy and PodDisruptionBudget', async () => {
  const t0 = Date.now();
  // The worker ready timeout is short here: without a kubelet no worker ever becomes ready.
  const r = helmRun(
    'install',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NS,
    '--create-namespace',
    '--set',
    'workers.readyTimeoutSeconds=3',
  );
  assert.equal(r.code, 0, r.stderr);
  console.log(`# helm install in ${Date.now() - t0} ms`);
  assert.match(r.stdout, /STATUS: deployed/);
  assert.match(r.stdout, /kubectl apply -f examples\/ragas-1k.yaml/);
  const status = helmRun('status', RELEASE, '--namespace', RELEASE_NS, '-o', 'json');
  assert.equal(JSON.parse(status.stdout).info.status, 'deployed');

  const rbac = env.kc.makeApiClient(RbacAuthorizationV1Api);
  const core = env.kc.makeApiClient(CoreV1Api);
  const apps = env.kc.makeApiClient(AppsV1Api);
  assert.ok((await core.readNamespacedServiceAccount({ name: SA, namespace: RELEASE_NS })).metadata?.uid);
  assert.equal((await rbac.readClusterRole({ name: RELEASE })).rules?.length, 9);
  assert.equal((await rbac.readClusterRoleBinding({ name: RELEASE })).subjects?.[0]?.name, SA);
  assert.equal(
    (await rbac.readNamespacedRole({ name: `${RELEASE}-leader-election`, namespace: RELEASE_NS })).rules
      ?.length,
    2,
  );
  const d = await apps.readNamespacedDeployment({ name: `${RELEASE}-controller`, namespace: RELEASE_NS });
  assert.equal(d.spec?.replicas, 2);
  assert.equal(d.spec?.template.spec?.serviceAccountName, SA);
  assert.equal(
    (await core.readNamespacedService({ name: `${RELEASE}-metrics`, namespace: RELEASE_NS })).spec?.ports?.[0]
      ?.port,
    8080,
  );
  // The NetworkPolicy and PodDisruptionBudget were accepted (validated and stored) by the API server.
  const np = await env.kc
    .makeApiClient(NetworkingV1Api)
    .readNamespacedNetworkPolicy({ name: `${RELEASE}-controller`, namespace: RELEASE_NS });
  assert.deepEqual(plain(np.spec?.podSelector?.matchLabels), plain(d.spec?.selector.matchLabels));
  assert.deepEqual(plain(np.spec?.ingress?.[0]?.ports), [{ protocol: 'TCP', port: 8080 }]);
  const pdb = await env.kc
    .makeApiClient(PolicyV1Api)
    .readNamespacedPodDisruptionBudget({ name: `${RELEASE}-controller`, namespace: RELEASE_NS });
  assert.equal(pdb.spec?.minAvailable, 1);
  // The CRD came from the chart's crds/ and is served.
  await waitFor('DatasetStates served', async () =>
    env.kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ ...G }),
  );
  await core.createNamespace({ body: { metadata: { name: NS } } });
});

test("the controller with the chart's ServiceAccount token and the chart's arguments reconciles a DatasetState to Ready", async () => {
  saToken = await env.createServiceAccountToken(RELEASE_NS, SA);
  saKubeconfig = join(dir, 'sa-kubeconfig');
  writeFileSync(saKubeconfig, env.kubeConfigForToken(saToken).exportConfig(), { mode: 0o600 });

  // The arguments of the installed Deployment, as the kubelet would pass them, with a free metrics port (no
  // Pod network here) and the ServiceAccount's kubeconfig in place of the in-cluster config.
  const apps = env.kc.makeApiClient(AppsV1Api);
  const container = (
    await apps.readNamespacedDeployment({ name: `${RELEASE}-controller`, namespace: RELEASE_NS })
  ).spec!.template.spec!.containers[0]! as Obj;
  const args = expandArgs(container, RELEASE_NS, 'datastate-controller-test');
  args[args.indexOf('--metrics-port') + 1] = '0';
  assert.deepEqual(args.slice(0, 6), [
    'controller',
    '--leader-elect',
    '--lease-namespace',
    RELEASE_NS,
    '--lease-name',
    'datastate-controller',
  ]);
  assert.ok(args.includes('--workers'));
  const log: string[] = [];
  const child = spawn(process.execPath, [CLI, ...args, '--kubeconfig', saKubeconfig, '--status-every', '1'], {
    cwd: ROOT,
    env: { ...process.env, KUBECONFIG: '', DATASTATE_HOME: join(dir, 'home') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d) => log.push(...String(d).split('\n').filter(Boolean)));
  controller = { child, log };

  // Leader election in the release namespace.
  const coord = env.kc.makeApiClient(CoordinationV1Api);
  const holder = await waitFor(
    'the Lease',
    async () =>
      (await coord.readNamespacedLease({ name: 'datastate-controller', namespace: RELEASE_NS })).spec
        ?.holderIdentity,
    30_000,
  );
  await waitFor(
    'the controller to say it leads',
    async () => log.some((l) => l.includes(`${holder} is the leader`)),
    10_000,
  );
  // /healthz and /readyz (the probes) answer: readyz only once the informers synced under the SA's RBAC.
  const port = await waitFor('metrics port', async () => {
    const line = log.find((l) => l.includes('controller starting'));
    return line ? (JSON.parse(line).metricsPort as number) : undefined;
  });
  await waitFor(
    'readyz 200',
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    30_000,
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

  // A DatasetState in another namespace, its database URL in a Secret (get by name), embedded in the
  // controller process (workers.maxReplicas: 0).
  const core = env.kc.makeApiClient(CoreV1Api);
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const db = join(dir, 'ragas.db');
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'ragas-db' }, stringData: { url: db } },
  });
  const t0 = Date.now();
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    body: {
      apiVersion: 'datastate.dev/v1alpha1',
      kind: 'DatasetState',
      metadata: { name: 'ragas-30', namespace: NS },
      spec: {
        docCount: 30,
        source: { type: 'pmc-xml', path: pmcCorpusPath() },
        database: { dialect: 'sqlite', connectionSecretRef: { name: 'ragas-db' } },
        embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
        workers: { maxReplicas: 0 },
      },
    },
  });
  const ready = await waitFor('Ready', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-30' })) as Obj;
    return condition(o, 'Ready')?.status === 'True' && o;
  });
  console.log(
    `# DatasetState of 30 PMC documents Ready in ${Date.now() - t0} ms (controller on the ServiceAccount token)`,
  );
  assert.equal(ready.status.phase, 'Ready');
  assert.equal(ready.status.embedded, 30);
  assert.ok(
    ready.status.checks.every((c: Obj) => c.passed),
    JSON.stringify(ready.status.checks),
  );
  const conn = new DatabaseSync(db);
  assert.equal(
    (conn.prepare('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger').get() as { n: number }).n,
    30,
  );
  conn.close();
  assert.deepEqual(refusals(log), [], 'no request was refused');
  // Events were written by the ServiceAccount.
  const events = await core.listNamespacedEvent({
    namespace: NS,
    fieldSelector: 'involvedObject.name=ragas-30',
  });
  assert.ok(
    events.items.some((e) => e.reason === 'Healed'),
    JSON.stringify(events.items.map((e) => e.reason)),
  );
});

test('with workers, the ServiceAccount creates the worker token Secret, NetworkPolicy, Service, PodDisruptionBudget and Deployment (kube-score clean) and reads EndpointSlices', async () => {
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const core = env.kc.makeApiClient(CoreV1Api);
  const apps = env.kc.makeApiClient(AppsV1Api);
  const db = join(dir, 'workers.db');
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'workers-db' }, stringData: { url: db } },
  });
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    body: {
      apiVersion: 'datastate.dev/v1alpha1',
      kind: 'DatasetState',
      metadata: { name: 'ragas-workers', namespace: NS },
      spec: {
        docCount: 10,
        source: { type: 'pmc-xml', path: pmcCorpusPath() },
        database: { dialect: 'sqlite', connectionSecretRef: { name: 'workers-db' } },
        embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
      },
    },
  });
  const dss = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-workers' })) as Obj;
  const owned = (o: { metadata?: { ownerReferences?: { uid?: string; controller?: boolean }[] } }) =>
    o.metadata?.ownerReferences?.some((r) => r.uid === dss.metadata.uid && r.controller === true);
  const deployment = await waitFor('the worker Deployment', async () =>
    apps.readNamespacedDeployment({ name: 'ragas-workers-embedder', namespace: NS }),
  );
  assert.ok(owned(deployment), 'owned by the DatasetState');
  assert.ok(owned(await core.readNamespacedService({ name: 'ragas-workers-embedder', namespace: NS })));
  assert.ok(owned(await core.readNamespacedSecret({ name: 'ragas-workers-embedder-token', namespace: NS })));
  // The NetworkPolicy and PodDisruptionBudget, applied by the ServiceAccount, accepted and stored by the API
  // server (which validates them; no CNI here enforces the policy).
  const policy = await env.kc
    .makeApiClient(NetworkingV1Api)
    .readNamespacedNetworkPolicy({ name: 'ragas-workers-embedder', namespace: NS });
  assert.ok(owned(policy));
  const podLabels = deployment.spec!.template.metadata!.labels!;
  assert.ok(
    Object.entries(policy.spec!.podSelector!.matchLabels!).every(([k, v]) => podLabels[k] === v),
    'the policy selects the worker Pods',
  );
  assert.deepEqual(plain(policy.spec!.policyTypes), ['Ingress']);
  const controllerPod = (
    await apps.readNamespacedDeployment({ name: `${RELEASE}-controller`, namespace: RELEASE_NS })
  ).spec!.template.metadata!.labels!;
  const [rule] = policy.spec!.ingress!;
  assert.equal(policy.spec!.ingress!.length, 1);
  assert.deepEqual(plain(rule!.ports), [{ protocol: 'TCP', port: 8080 }]);
  assert.equal(rule!._from!.length, 1);
  assert.deepEqual(plain(rule!._from![0]!.namespaceSelector!.matchLabels), {
    'kubernetes.io/metadata.name': RELEASE_NS,
  });
  const admitted = rule!._from![0]!.podSelector!.matchLabels!;
  assert.ok(
    Object.entries(admitted).every(([k, v]) => controllerPod[k] === v),
    `the controller Pods (${JSON.stringify(controllerPod)}) are admitted by ${JSON.stringify(admitted)}`,
  );
  const pdb = await env.kc
    .makeApiClient(PolicyV1Api)
    .readNamespacedPodDisruptionBudget({ name: 'ragas-workers-embedder', namespace: NS });
  assert.ok(owned(pdb));
  assert.equal(pdb.spec?.maxUnavailable, 1);
  assert.equal(pdb.spec?.minAvailable, undefined);
  // Resources: the chart's workers.resources (the DatasetState names none), ephemeral-storage included.
  assert.deepEqual(plain(deployment.spec?.template.spec?.containers[0]?.resources), {
    requests: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '1Gi' },
    limits: { memory: '4Gi', 'ephemeral-storage': '2Gi' },
  });
  assert.equal(deployment.spec?.template.spec?.containers[0]?.imagePullPolicy, 'IfNotPresent');
  // kube-score over the worker objects exactly as the controller wrote them (read back from the API server).
  const service = await core.readNamespacedService({ name: 'ragas-workers-embedder', namespace: NS });
  const stored = [
    { ...deployment, apiVersion: 'apps/v1', kind: 'Deployment' },
    { ...service, apiVersion: 'v1', kind: 'Service' },
    { ...policy, apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
    { ...pdb, apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  ].map((o) => {
    const c = structuredClone(o) as KubernetesObject & { status?: unknown };
    delete c.metadata!.managedFields;
    delete c.status;
    return dumpYaml(c);
  });
  const score = kubeScore(stored.join('---\n'));
  assert.deepEqual(score.findings, [], 'kube-score over the worker manifests');
  assert.equal(score.code, 0);
  assert.equal(score.scored.length, 4, score.scored.join());
  assert.equal(
    deployment.spec?.template.spec?.containers[0]?.image,
    `ghcr.io/datastate/datastate:${/appVersion: "?([^"\n]+)/.exec(helmRun('show', 'chart', CHART).stdout)![1]}`,
  );
  // No kubelet, so no worker becomes ready: the pass fails for that reason (it looked at the EndpointSlices),
  // not for a refused request.
  const failed = await waitFor(
    'the pass to give up on workers',
    async () => {
      const o = (await custom.getNamespacedCustomObject({
        ...G,
        namespace: NS,
        name: 'ragas-workers',
      })) as Obj;
      return o.status?.lastError && o;
    },
    60_000,
  );
  assert.match(failed.status.lastError, /no ready worker endpoint for Service ragas\/ragas-workers-embedder/);
  assert.deepEqual(refusals(controller!.log), [], 'no request was refused');
  await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-workers' });
});

test('access reviews: the ServiceAccount has exactly what the controller needs and nothing more', async () => {
  const allowed: [string, V1ResourceAttributes][] = [
    [
      'watch DatasetStates in all namespaces',
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'watch' },
    ],
    [
      'list DatasetStates in all namespaces',
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'list' },
    ],
    ['get a DatasetState', { group: 'datastate.dev', resource: 'datasetstates', verb: 'get', namespace: NS }],
    [
      'patch DatasetState status',
      {
        group: 'datastate.dev',
        resource: 'datasetstates',
        subresource: 'status',
        verb: 'patch',
        namespace: NS,
      },
    ],
    [
      'update DatasetState status',
      {
        group: 'datastate.dev',
        resource: 'datasetstates',
        subresource: 'status',
        verb: 'update',
        namespace: NS,
      },
    ],
    ['create Events', { resource: 'events', verb: 'create', namespace: NS }],
    ['patch Events', { resource: 'events', verb: 'patch', namespace: NS }],
    ['get a Secret by name', { resource: 'secrets', verb: 'get', namespace: NS, name: 'ragas-db' }],
    ['create the worker token Secret', { resource: 'secrets', verb: 'create', namespace: NS }],
    [
      'delete a Secret',
      { resource: 'secrets', verb: 'delete', namespace: NS, name: 'ragas-workers-embedder-token' },
    ],
    ['create worker Deployments', { group: 'apps', resource: 'deployments', verb: 'create', namespace: NS }],
    ['patch worker Deployments', { group: 'apps', resource: 'deployments', verb: 'patch', namespace: NS }],
    ['watch Deployments', { group: 'apps', resource: 'deployments', verb: 'watch', namespace: NS }],
    ['patch worker Services', { resource: 'services', verb: 'patch', namespace: NS }],
    [
      'list EndpointSlices',
      { group: 'discovery.k8s.io', resource: 'endpointslices', verb: 'list', namespace: NS },
    ],
    [
      'create worker NetworkPolicies',
      { group: 'networking.k8s.io', resource: 'networkpolicies', verb: 'create', namespace: NS },
    ],
    [
      'patch worker NetworkPolicies',
      { group: 'networking.k8s.io', resource: 'networkpolicies', verb: 'patch', namespace: NS },
    ],
    [
      'create worker PodDisruptionBudgets',
      { group: 'policy', resource: 'poddisruptionbudgets', verb: 'create', namespace: NS },
    ],
    [
      'patch worker PodDisruptionBudgets',
      { group: 'policy', resource: 'poddisruptionbudgets', verb: 'patch', namespace: NS },
    ],
    [
      'create a Lease in the release namespace',
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: RELEASE_NS },
    ],
    [
      'get its Lease',
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'get',
        namespace: RELEASE_NS,
        name: 'datastate-controller',
      },
    ],
    [
      'update its Lease',
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'update',
        namespace: RELEASE_NS,
        name: 'datastate-controller',
      },
    ],
  ];
  const denied: [string, V1ResourceAttributes][] = [
    ['list Secrets in a namespace', { resource: 'secrets', verb: 'list', namespace: NS }],
    ['list Secrets in all namespaces', { resource: 'secrets', verb: 'list' }],
    ['watch Secrets', { resource: 'secrets', verb: 'watch', namespace: NS }],
    ['list Secrets in its own namespace', { resource: 'secrets', verb: 'list', namespace: RELEASE_NS }],
    [
      "update a DatasetState's spec",
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'update', namespace: NS },
    ],
    [
      "patch a DatasetState's spec",
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'patch', namespace: NS },
    ],
    [
      'create DatasetStates',
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'create', namespace: NS },
    ],
    [
      'delete DatasetStates',
      { group: 'datastate.dev', resource: 'datasetstates', verb: 'delete', namespace: NS },
    ],
    [
      'update DatasetState finalizers',
      {
        group: 'datastate.dev',
        resource: 'datasetstates',
        subresource: 'finalizers',
        verb: 'update',
        namespace: NS,
      },
    ],
    ['delete Namespaces', { resource: 'namespaces', verb: 'delete', name: NS }],
    ['create Pods', { resource: 'pods', verb: 'create', namespace: NS }],
    ['list Pods', { resource: 'pods', verb: 'list', namespace: NS }],
    ['exec into Pods', { resource: 'pods', subresource: 'exec', verb: 'create', namespace: NS }],
    ['get ConfigMaps', { resource: 'configmaps', verb: 'get', namespace: NS }],
    ['list Nodes', { resource: 'nodes', verb: 'list' }],
    [
      'create ServiceAccount tokens',
      { resource: 'serviceaccounts', subresource: 'token', verb: 'create', namespace: RELEASE_NS, name: SA },
    ],
    ['create StatefulSets', { group: 'apps', resource: 'statefulsets', verb: 'create', namespace: NS }],
    [
      'delete EndpointSlices',
      { group: 'discovery.k8s.io', resource: 'endpointslices', verb: 'delete', namespace: NS },
    ],
    ['delete Events', { resource: 'events', verb: 'delete', namespace: NS }],
    ...(['get', 'list', 'watch', 'update', 'delete'] as const).flatMap(
      (verb): [string, V1ResourceAttributes][] => [
        [
          `${verb} NetworkPolicies`,
          { group: 'networking.k8s.io', resource: 'networkpolicies', verb, namespace: NS },
        ],
        [
          `${verb} PodDisruptionBudgets`,
          { group: 'policy', resource: 'poddisruptionbudgets', verb, namespace: NS },
        ],
      ],
    ),
    [
      'create Ingresses (networking.k8s.io beyond NetworkPolicies)',
      { group: 'networking.k8s.io', resource: 'ingresses', verb: 'create', namespace: NS },
    ],
    [
      'create a Lease outside the release namespace',
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: NS },
    ],
    [
      'get a Lease outside the release namespace',
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'get',
        namespace: NS,
        name: 'datastate-controller',
      },
    ],
    [
      'update another Lease in the release namespace',
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'update',
        namespace: RELEASE_NS,
        name: 'someone-else',
      },
    ],
    [
      'delete its Lease',
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'delete',
        namespace: RELEASE_NS,
        name: 'datastate-controller',
      },
    ],
    [
      'list Leases',
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'list', namespace: RELEASE_NS },
    ],
    [
      'create ClusterRoleBindings',
      { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', verb: 'create' },
    ],
    [
      'escalate its ClusterRole',
      { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'escalate', name: RELEASE },
    ],
    ['impersonate users', { resource: 'users', verb: 'impersonate' }],
    [
      'update the CRD',
      {
        group: 'apiextensions.k8s.io',
        resource: 'customresourcedefinitions',
        verb: 'update',
        name: 'datasetstates.datastate.dev',
      },
    ],
    [
      "anything on another group's resources",
      { group: 'batch', resource: 'jobs', verb: 'create', namespace: NS },
    ],
  ];
  const wrong: string[] = [];
  for (const [what, attrs] of allowed) if (!(await can(attrs))) wrong.push(`should be allowed: ${what}`);
  for (const [what, attrs] of denied) if (await can(attrs)) wrong.push(`should be denied: ${what}`);
  assert.deepEqual(wrong, []);
  console.log(`# access reviews: ${allowed.length} allowed and ${denied.length} denied, as expected`);

  // And for real, with the ServiceAccount's own token.
  const sa = env.kubeConfigForToken(saToken);
  const core = sa.makeApiClient(CoreV1Api);
  const custom = sa.makeApiClient(CustomObjectsApi);
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: { code?: number }) => e.code,
    );
  assert.equal(
    (await core.readNamespacedSecret({ name: 'ragas-db', namespace: NS })).metadata?.name,
    'ragas-db',
  );
  assert.equal(await code(core.listNamespacedSecret({ namespace: NS })), 403);
  assert.equal(await code(core.listSecretForAllNamespaces()), 403);
  assert.equal(await code(core.deleteNamespace({ name: NS })), 403);
  assert.equal(
    await code(
      core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      }),
    ),
    403,
  );
  const obj = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-30' })) as Obj;
  obj.spec.docCount = 31;
  assert.equal(
    await code(custom.replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-30', body: obj })),
    403,
  );
  const coord = sa.makeApiClient(CoordinationV1Api);
  assert.equal(
    await code(
      coord.createNamespacedLease({
        namespace: NS,
        body: { metadata: { name: 'datastate-controller' }, spec: {} },
      }),
    ),
    403,
  );
});

test('workers.enabled=false (helm upgrade): the worker rules are gone, the Secret is get-only', async () => {
  if (controller) {
    const exited = new Promise((r) => controller!.child.once('exit', r));
    controller.child.kill('SIGTERM');
    await exited;
  }
  const r = helmRun(
    'upgrade',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NS,
    '--reuse-values',
    '--set',
    'workers.enabled=false',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await can({ resource: 'secrets', verb: 'get', namespace: NS, name: 'ragas-db' }), true);
  assert.equal(await can({ group: 'datastate.dev', resource: 'datasetstates', verb: 'watch' }), true);
  for (const attrs of [
    { resource: 'secrets', verb: 'create', namespace: NS },
    { resource: 'secrets', verb: 'delete', namespace: NS },
    { group: 'apps', resource: 'deployments', verb: 'create', namespace: NS },
    { resource: 'services', verb: 'patch', namespace: NS },
    { group: 'discovery.k8s.io', resource: 'endpointslices', verb: 'list', namespace: NS },
    { group: 'networking.k8s.io', resource: 'networkpolicies', verb: 'create', namespace: NS },
    { group: 'policy', resource: 'poddisruptionbudgets', verb: 'patch', namespace: NS },
  ] as V1ResourceAttributes[]) {
    assert.equal(await can(attrs), false, JSON.stringify(attrs));
  }
  const d = await env.kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: `${RELEASE}-controller`, namespace: RELEASE_NS });
  assert.ok(!d.spec!.template.spec!.containers[0]!.args!.includes('--workers'));
});

test('helm uninstall removes the RBAC: the ServiceAccount can do nothing any more; the CRD stays', async () => {
  const r = helmRun('uninstall', RELEASE, '--namespace', RELEASE_NS);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await can({ group: 'datastate.dev', resource: 'datasetstates', verb: 'watch' }), false);
  assert.equal(await can({ resource: 'secrets', verb: 'get', namespace: NS, name: 'ragas-db' }), false);
  // Helm never deletes crds/ (that would delete every DatasetState).
  const list = (await env.kc
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ ...G, namespace: NS })) as { items: unknown[] };
  assert.equal(list.items.length, 1);
});
