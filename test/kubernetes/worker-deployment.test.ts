/**
 * The embedding-worker Deployment on a real kube-apiserver. envtest runs no kubelet and no endpoint
 * controller, so the test does their part: it starts real worker processes (with the env of the Deployment
 * the controller created) and publishes their addresses as EndpointSlices of the worker Service.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import { installCrd, waitFor as waitForRaw } from '../helpers/k8s.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { CLI, REPO, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';

const NS = 'ds-workers';
const G = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };
let env: Envtest;
let dir: string;
const procs: ChildProcess[] = [];
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 120_000) =>
  waitForRaw(what, fn, { timeoutMs, intervalMs: 200 });

function spawnLogged(
  args: string[],
  extraEnv: Record<string, string> = {},
): { child: ChildProcess; log: string[] } {
  const log: string[] = [];
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, DATASTATE_HOME: join(dir, 'home'), ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d) => log.push(...String(d).split('\n').filter(Boolean)));
  procs.push(child);
  return { child, log };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ds-workers-'));
  await smallModelDir();
  env = await startEnvtest();
  await installCrd(env);
  await env.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
});

after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('300 documents reach Ready through two workers; one killed mid-batch; replicas follow the backlog down to 0; no token, 401', async () => {
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const core = env.kc.makeApiClient(CoreV1Api);
  const apps = env.kc.makeApiClient(AppsV1Api);
  const discovery = env.kc.makeApiClient(DiscoveryV1Api);
  const db = join(dir, 'workers.db');
  const controller = spawnLogged([
    'controller',
    '--kubeconfig',
    env.kubeconfigPath,
    '--metrics-port',
    '0',
    '--resync',
    '30',
    '--status-every',
    '1',
    '--workers',
    '--batches-per-worker',
    '2',
    '--worker-ready-timeout',
    '90',
  ]);
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    body: {
      apiVersion: 'datastate.dev/v1alpha1',
      kind: 'DatasetState',
      metadata: { name: 'w300', namespace: NS },
      spec: {
        docCount: 300,
        source: { type: 'pmc-xml', path: pmcCorpusPath() },
        database: { dialect: 'sqlite', url: db },
        embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
        healing: { batchSize: 6 },
        workers: { minReplicas: 0, maxReplicas: 3 },
      },
    },
  });

  // The controller creates and owns the worker Deployment, Service and token Secret.
  const deployment = await waitFor('worker Deployment', async () =>
    apps.readNamespacedDeployment({ name: 'w300-embedder', namespace: NS }),
  );
  const owner = deployment.metadata?.ownerReferences?.[0];
  assert.equal(owner?.kind, 'DatasetState');
  assert.equal(owner?.controller, true);
  const pod = deployment.spec!.template.spec!;
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(pod.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(pod.containers[0]!.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(pod.containers[0]!.readinessProbe?.httpGet?.path, '/readyz');
  assert.ok(
    deployment.spec!.replicas! >= 2,
    `scaled up for the backlog (replicas ${deployment.spec!.replicas})`,
  );
  await waitFor('worker Service', async () =>
    core.readNamespacedService({ name: 'w300-embedder', namespace: NS }),
  );
  const secret = await waitFor('token Secret', async () =>
    core.readNamespacedSecret({ name: 'w300-embedder-token', namespace: NS }),
  );
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, Buffer.from(secret.data!.token!, 'base64'));

  // Record replicas over time.
  const replicas: number[] = [];
  let watching = true;
  const watcher = (async () => {
    for (;;) {
      // Told to stop, it reads once more: the state at the end is in the history however slow the reads are.
      const last = !watching;
      const d = await apps
        .readNamespacedDeployment({ name: 'w300-embedder', namespace: NS })
        .catch(() => null);
      const r = d?.spec?.replicas;
      if (r !== undefined && replicas[replicas.length - 1] !== r) replicas.push(r);
      if (last) break;
      await new Promise((res) => setTimeout(res, 150));
    }
  })();

  // Run two workers as the Deployment would (its env, the Secret's token), publish them as endpoints.
  const workerEnv = Object.fromEntries(
    pod.containers[0]!.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );
  const workers = ['a', 'b'].map((n) => ({
    n,
    ...spawnLogged(['worker', '--port', '0', '--token-file', tokenFile], workerEnv),
  }));
  const ports = await Promise.all(
    workers.map((w) =>
      waitFor(`worker ${w.n} listening`, async () => {
        const line = w.log.find((l) => l.includes('worker listening'));
        return line ? (JSON.parse(line).port as number) : undefined;
      }),
    ),
  );
  await Promise.all(
    workers.map((w, i) =>
      waitFor(`worker ${w.n} ready`, async () => (await fetch(`http://127.0.0.1:${ports[i]}/readyz`)).ok),
    ),
  );
  // The API server refuses loopback IPs in EndpointSlices, and this machine may reach no other address: the
  // workers are published in FQDN slices under .localhost, which the controller resolves to loopback (RFC 6761).
  const slice = (n: string, port: number, ready: boolean) => ({
    metadata: {
      name: `w300-embedder-${n}`,
      namespace: NS,
      labels: {
        'kubernetes.io/service-name': 'w300-embedder',
        'endpointslice.kubernetes.io/managed-by': 'datastate-test',
      },
    },
    addressType: 'FQDN',
    endpoints: [{ addresses: [`worker-${n}.localhost`], conditions: { ready } }],
    ports: [{ name: 'http', port, protocol: 'TCP' }],
  });
  for (const [i, w] of workers.entries())
    await discovery.createNamespacedEndpointSlice({ namespace: NS, body: slice(w.n, ports[i]!, true) });

  // Without the token: 401.
  const unauth = await fetch(`http://127.0.0.1:${ports[1]}/v1/batches`, { method: 'POST', body: '{}' });
  assert.equal(unauth.status, 401);

  // Kill worker a in the middle of its work, as a node failure would; the endpoint goes unready a moment later.
  const db2 = () => new DatabaseSync(db);
  await waitFor(
    'worker a has done some batches',
    async () => workers[0]!.log.filter((l) => l.includes('batch done')).length >= 2,
  );
  workers[0]!.child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1500));
  await discovery.replaceNamespacedEndpointSlice({
    name: 'w300-embedder-a',
    namespace: NS,
    body: slice('a', ports[0]!, false),
  });

  const ready = await waitFor(
    'Ready',
    async () => {
      const o: any = await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'w300' });
      return o.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' && o;
    },
    240_000,
  );
  assert.equal(ready.status.embedded, 300);
  const final = await waitFor('scaled to 0 at Ready', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'w300-embedder', namespace: NS });
    return d.spec?.replicas === 0 && d;
  });
  assert.equal(final.spec?.replicas, 0);
  watching = false;
  await watcher;

  const doneA = workers[0]!.log.filter((l) => l.includes('batch done')).length;
  const doneB = workers[1]!.log.filter((l) => l.includes('batch done')).length;
  assert.ok(doneA >= 2 && doneB >= 1, `both workers did work (a: ${doneA}, b: ${doneB})`);
  const conn = db2();
  const partial = conn
    .prepare(
      `SELECT d.doc_id FROM (SELECT doc_id, COUNT(*) AS n, MAX(token_index) AS mx FROM DocumentTokenEmbeddings GROUP BY doc_id) d
     LEFT JOIN DocumentEmbeddingLedger l ON l.doc_id = d.doc_id WHERE l.doc_id IS NULL OR l.token_count <> d.n OR d.mx <> d.n - 1`,
    )
    .all();
  const embedded = (conn.prepare('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger').get() as { n: number })
    .n;
  conn.close();
  assert.deepEqual(partial, [], 'no document with a partial set of token rows');
  assert.equal(embedded, 300);
  // Replicas rose for the backlog, fell with it, and ended at minReplicas.
  const peak = Math.max(...replicas);
  assert.ok(peak >= 2, `replicas over time: ${replicas.join(' → ')}`);
  assert.equal(replicas[replicas.length - 1], 0, `replicas over time: ${replicas.join(' → ')}`);
  assert.ok(
    replicas.slice(replicas.indexOf(peak)).every((r, i, a) => i === 0 || r <= a[i - 1]!),
    `never up again after the peak: ${replicas.join(' → ')}`,
  );
  assert.ok(
    !controller.log.some((l) => l.includes('"level":"error"')),
    controller.log.filter((l) => l.includes('error')).join('\n'),
  );
});
