/**
 * The controller on a real kube-apiserver + etcd (test/envtest), with the embedded SQLite store, the real PMC
 * corpus and a real ONNX model run (small generated model, real tokenizer). The controller runs as a child
 * process, as it would in a Pod.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import { installCrd, waitFor as waitForRaw } from '../helpers/k8s.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { CLI, MEDIUM_DIM, mediumModelDir, REPO, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';

const NS = 'ds-test';
const G = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };

let env: Envtest;
/** waitFor that shows the controllers' logs on time-out. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 120_000) =>
  waitForRaw(what, fn, {
    timeoutMs,
    context: () =>
      controllers.map((c, i) => `controller ${i}:\n  ${c.log.slice(-15).join('\n  ')}`).join('\n'),
  });
let dir: string;
let custom: CustomObjectsApi;
let core: CoreV1Api;
const controllers: { child: ChildProcess; log: string[] }[] = [];

function startController(extra: string[] = []): { child: ChildProcess; log: string[] } {
  const log: string[] = [];
  const child = spawn(
    process.execPath,
    [
      CLI,
      'controller',
      '--kubeconfig',
      env.kubeconfigPath,
      '--metrics-port',
      '0',
      '--resync',
      '4',
      '--status-every',
      '1',
      '--grace-period',
      '10',
      ...extra,
    ],
    {
      cwd: REPO,
      env: { ...process.env, DATASTATE_HOME: join(dir, 'home') },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr!.on('data', (d) => log.push(...String(d).split('\n').filter(Boolean)));
  const c = { child, log };
  controllers.push(c);
  return c;
}

async function stopController(c: { child: ChildProcess }, signal: NodeJS.Signals = 'SIGTERM') {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.kill(signal);
  await exited;
}

async function getDss(name: string): Promise<any> {
  return custom.getNamespacedCustomObject({ ...G, namespace: NS, name });
}

function condition(obj: any, type: string): any {
  return obj?.status?.conditions?.find((c: any) => c.type === type);
}

async function createDss(name: string, spec: Record<string, unknown>) {
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    body: {
      apiVersion: 'datastate.dev/v1alpha1',
      kind: 'DatasetState',
      metadata: { name, namespace: NS },
      spec,
    },
  });
}

async function baseSpec(db: string, docCount: number, extra: Record<string, unknown> = {}) {
  return {
    docCount,
    source: { type: 'pmc-xml', path: pmcCorpusPath() },
    database: { dialect: 'sqlite', url: db },
    embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
    ...extra,
  };
}

function rows(db: string, sql: string): any[] {
  const conn = new DatabaseSync(db);
  try {
    return conn.prepare(sql).all();
  } finally {
    conn.close();
  }
}

async function eventsOf(name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const list = await core.listNamespacedEvent({
    namespace: NS,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', type: e.type ?? '' }));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ds-ctrl-'));
  await smallModelDir();
  env = await startEnvtest();
  custom = env.kc.makeApiClient(CustomObjectsApi);
  core = env.kc.makeApiClient(CoreV1Api);
  await installCrd(env);
  await core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
});

after(async () => {
  for (const c of controllers) await stopController(c, 'SIGKILL');
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a DatasetState of 100 documents reaches Ready (database URL from a Secret, never shown); drift is healed at the next resync', async () => {
  const c = startController();
  const db = join(dir, 'ready.db');
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'ragas-db' }, stringData: { url: db } },
  });
  const spec = await baseSpec(db, 100);
  delete (spec as any).database.url;
  (spec as any).database.connectionSecretRef = { name: 'ragas-db' };
  await createDss('ragas-100', spec);
  const ready = await waitFor('Ready', async () => {
    const o = await getDss('ragas-100');
    return condition(o, 'Ready')?.status === 'True' && o;
  });
  assert.equal(ready.status.phase, 'Ready');
  assert.equal(ready.status.embedded, 100);
  assert.equal(ready.status.documents, 100);
  assert.equal(ready.status.observedGeneration, ready.metadata.generation);
  assert.ok(
    ready.status.checks.length === 6 && ready.status.checks.every((x: any) => x.passed),
    JSON.stringify(ready.status.checks),
  );
  for (const t of ['Ready', 'Progressing', 'Degraded', 'SchemaValid'])
    assert.ok(condition(ready, t), `condition ${t}`);
  assert.equal(condition(ready, 'SchemaValid').status, 'True');
  assert.equal(rows(db, 'SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0].n, 100);
  const events = await eventsOf('ragas-100');
  assert.ok(
    events.some((e) => e.reason === 'PlanMade'),
    JSON.stringify(events),
  );
  assert.ok(
    events.some((e) => e.reason === 'Healed'),
    JSON.stringify(events),
  );
  const everything = JSON.stringify([ready.status, events]) + c.log.join('\n');
  assert.ok(
    !everything.includes(db),
    'the database URL from the Secret appears in no status, event or log line',
  );

  // Drift behind the controller's back: no event on the resource, only the periodic resync can see it.
  const victims = rows(db, 'SELECT doc_id FROM DocumentEmbeddingLedger ORDER BY doc_id LIMIT 7').map(
    (r) => r.doc_id,
  );
  const conn = new DatabaseSync(db);
  conn
    .prepare('DELETE FROM DocumentTokenEmbeddings WHERE doc_id IN (SELECT value FROM json_each(?))')
    .run(JSON.stringify(victims));
  conn.close();
  await waitFor(
    'drift healed',
    async () => {
      const n = rows(db, `SELECT COUNT(DISTINCT doc_id) AS n FROM DocumentTokenEmbeddings`)[0].n;
      return n === 100;
    },
    60_000,
  );
  const healed = await waitFor('status after heal', async () => {
    const o = await getDss('ragas-100');
    return condition(o, 'Ready')?.status === 'True' && o.status.embedded === 100 && o;
  });
  assert.equal(healed.status.phase, 'Ready');
  await stopController(c);
});

test('ValidateOnly reports Degraded with the failing checks and writes nothing; DryRun writes the plan to status and nothing else', async () => {
  const c = startController();
  const vdb = join(dir, 'validate.db');
  await createDss('validate-only', await baseSpec(vdb, 50, { mode: 'ValidateOnly' }));
  const v = await waitFor('Degraded', async () => {
    const o = await getDss('validate-only');
    return condition(o, 'Degraded')?.status === 'True' && o;
  });
  assert.equal(v.status.phase, 'Degraded');
  assert.equal(condition(v, 'Ready').status, 'False');
  const failing = v.status.checks.filter((x: any) => !x.passed).map((x: any) => x.name);
  assert.ok(failing.includes('document_count') && failing.includes('schema_integrity'), failing.join());
  assert.match(condition(v, 'Degraded').message, /document_count/);
  assert.ok(!existsSync(vdb), 'nothing written: the database file is not even created');
  assert.ok((await eventsOf('validate-only')).some((e) => e.reason === 'ValidationFailed'));

  const ddb = join(dir, 'dryrun.db');
  await createDss('dry-run', await baseSpec(ddb, 40, { mode: 'DryRun' }));
  const d = await waitFor('DryRun plan in status', async () => {
    const o = await getDss('dry-run');
    return o.status?.plan && o;
  });
  assert.equal(d.status.plan.documentsToLoad, 40);
  assert.ok(d.status.plan.batches >= 1);
  assert.ok(!existsSync(ddb), 'nothing written: the database file is not even created');
  await stopController(c);
});

test('a spec change while healing cancels the running pass and re-plans', async () => {
  const c = startController();
  const db = join(dir, 'respec.db');
  // A model slow enough (~6 s per 100 documents) that the spec can change while the first pass heals.
  await createDss(
    'respec',
    await baseSpec(db, 200, {
      healing: { batchSize: 2 },
      embedding: { modelPath: await mediumModelDir(), dimension: MEDIUM_DIM },
    }),
  );
  await waitFor('healing under way', async () => {
    const o = await getDss('respec');
    return o.status?.phase === 'Healing' && o.status.progress?.processed > 0;
  });
  await custom.patchNamespacedCustomObject({
    ...G,
    namespace: NS,
    name: 'respec',
    body: [{ op: 'replace', path: '/spec/docCount', value: 260 }],
  });
  const done = await waitFor(
    'Ready at the new generation',
    async () => {
      const o = await getDss('respec');
      return condition(o, 'Ready')?.status === 'True' && o.status.observedGeneration === 2 && o;
    },
    180_000,
  );
  assert.equal(done.spec.docCount, 260);
  assert.equal(done.status.embedded, 260);
  assert.equal(
    rows(db, 'SELECT COUNT(*) AS n FROM SourceDocuments WHERE length(trim(abstract)) > 0')[0].n,
    260,
  );
  assert.ok(
    c.log.some((l) => l.includes('spec changed while reconciling')),
    'the running pass was cancelled',
  );
  assert.ok((await eventsOf('respec')).filter((e) => e.reason === 'PlanMade').length >= 2, 'planned again');
  await stopController(c);
});

test('--concurrency 1: a ValidateOnly DatasetState gets its status while another heals for minutes; deleting the healing one cancels its task', async () => {
  const c = startController(['--concurrency', '1']);
  const slowDb = join(dir, 'slow.db');
  // The medium model, 1,200 documents in batches of 2: minutes of healing on this machine.
  await createDss(
    'slow-heal',
    await baseSpec(slowDb, 1200, {
      healing: { batchSize: 2 },
      embedding: { modelPath: await mediumModelDir(), dimension: MEDIUM_DIM },
    }),
  );
  await waitFor('slow-heal under way', async () => {
    const o = await getDss('slow-heal');
    return o.status?.phase === 'Healing' && o.status.progress?.processed > 0;
  });

  // The second one is created after the first one's heal started, and the only queue loop is free anyway:
  // the pass is short, the heal runs in the background.
  await createDss('quick-validate', await baseSpec(join(dir, 'quick.db'), 20, { mode: 'ValidateOnly' }));
  const quick = await waitFor('quick-validate has status', async () => {
    const o = await getDss('quick-validate');
    return condition(o, 'Degraded')?.status === 'True' && o;
  });
  assert.equal(quick.status.phase, 'Degraded');
  assert.ok(condition(quick, 'Ready') && condition(quick, 'Progressing'), 'conditions written');
  const slow = await getDss('slow-heal');
  assert.equal(slow.status.phase, 'Healing', 'the first one is still healing: it did not hold the queue');
  assert.ok(slow.status.progress.processed < 1200, `processed ${slow.status.progress.processed}`);

  // Deleting the healing one cancels its task; nothing more is written after it has unwound.
  await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'slow-heal' });
  await waitFor('task cancelled', async () =>
    c.log.some((l) => l.includes('heal task cancelled') && l.includes('DatasetState deleted')),
  );
  const count = () => rows(slowDb, 'SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0].n as number;
  const atCancel = count();
  assert.ok(atCancel < 1200, `embedded ${atCancel} of 1200 when cancelled`);
  // One more resync period (4 s): a live task would have written several batches meanwhile.
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(count(), atCancel, 'no batch written after the task was cancelled');
  await stopController(c);
});

test('two controllers with leader election: one leader heals; when it is killed the other takes over', async () => {
  // A lease of 10 s: with a shorter one, a leader starved of CPU on a loaded 2-core machine missed its renewal and
  // the standby rightly took over while the first was still healing (seen in a cold CI run).
  const leaseArgs = ['--leader-elect', '--lease-namespace', NS, '--lease-duration', '10'];
  const a = startController(leaseArgs);
  const b = startController(leaseArgs);
  const coord = env.kc.makeApiClient(CoordinationV1Api);
  const holder = await waitFor(
    'a leader',
    async () =>
      (await coord.readNamespacedLease({ name: 'datastate-controller', namespace: NS })).spec?.holderIdentity,
  );
  const leaderIs = (c: { log: string[] }) => c.log.some((l) => l.includes(`${holder} is the leader`));
  const [leader, standby] = leaderIs(a) ? [a, b] : [b, a];
  assert.ok(leaderIs(leader) && !leaderIs(standby), 'exactly one leader');

  const db1 = join(dir, 'lead1.db');
  await createDss('lead-1', await baseSpec(db1, 30));
  await waitFor('lead-1 Ready', async () => condition(await getDss('lead-1'), 'Ready')?.status === 'True');
  assert.ok(
    !standby.log.some((l) => l.includes('"ready"') && l.includes('lead-1')),
    'the standby did not heal',
  );

  leader.child.kill('SIGKILL');
  const killedAt = Date.now();
  const next = await waitFor(
    'a new leader',
    async () => {
      const h = (await coord.readNamespacedLease({ name: 'datastate-controller', namespace: NS })).spec
        ?.holderIdentity;
      return h && h !== holder && h;
    },
    30_000,
  );
  const takeover = (Date.now() - killedAt) / 1000;
  assert.ok(takeover < 10 + 10, `took over in ${takeover.toFixed(1)} s (lease 10 s)`);
  assert.ok(standby.log.some((l) => l.includes(`${next} is the leader`)));
  const db2 = join(dir, 'lead2.db');
  await createDss('lead-2', await baseSpec(db2, 20));
  await waitFor(
    'lead-2 Ready under the new leader',
    async () => condition(await getDss('lead-2'), 'Ready')?.status === 'True',
  );

  // SIGTERM: the leader releases the Lease on the way out.
  await stopController(standby);
  const after = (await coord.readNamespacedLease({ name: 'datastate-controller', namespace: NS })).spec;
  assert.equal(after?.holderIdentity ?? '', '', 'Lease released on SIGTERM');
});

test('metrics and health endpoints', async () => {
  const c = startController(['--metrics-port', '0']);
  const port = await waitFor('metrics port', async () => {
    const line = c.log.find((l) => l.includes('controller starting'));
    return line ? JSON.parse(line).metricsPort : undefined;
  });
  await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
  await createDss('metrics', await baseSpec(join(dir, 'metrics.db'), 10));
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await waitFor('the dataset in the metrics', async () =>
    (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).includes(
      'datastate_dataset_ready{namespace="ds-test",name="metrics"} 1',
    ),
  );
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(text, /datastate_reconcile_total\{result="ready"\} [1-9]/);
  for (const name of [
    'datastate_reconcile_duration_seconds_bucket',
    'datastate_workqueue_depth',
    'datastate_documents_embedded_total',
    'datastate_tokens_embedded_total',
    'datastate_dataset_documents_ready{namespace="ds-test",name="metrics"} 10',
    'datastate_dataset_embeddings_missing',
    'datastate_dataset_progress_ratio',
  ])
    assert.ok(text.includes(name), `metric ${name}`);
  await stopController(c);
});
