/**
 * The worker manifests the controller writes (pure): resources from the DatasetState over the defaults,
 * the NetworkPolicy and PodDisruptionBudget, and the order they are applied in.
 *
 *   node --test test/unit/worker-manifests.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpYaml } from '@kubernetes/client-node';
import { parseManifest } from '../../src/api/validate.ts';
import {
  DEFAULT_WORKER_RESOURCES,
  workerManifests,
  workerResources,
  type WorkerSettings,
} from '../../src/controller/worker-manifests.ts';
import { parseEnv, parseLabels, parseResources } from '../../src/cli/worker-flags.ts';
import { workerParallelism } from '../../src/worker/run.ts';
import { ValidationError } from '../../src/api/validate.ts';

const owner = { name: 'ragas-1k', namespace: 'ragas', uid: 'u-1' };
const settings: WorkerSettings = {
  image: 'img:1',
  imagePullPolicy: 'IfNotPresent',
  resources: DEFAULT_WORKER_RESOURCES,
  batchesPerWorker: 4,
  inFlightPerEndpoint: 1,
  modelMountPath: '/models',
  readyTimeoutMs: 1000,
  maxAttempts: 5,
  port: 8080,
  networkPolicy: { namespace: 'datastate-system', podLabels: { 'app.kubernetes.io/name': 'datastate' } },
  podDisruptionBudget: true,
};
const spec = (workers = '') =>
  parseManifest(
    `apiVersion: datastate.dev/v1alpha1
kind: DatasetState
metadata: {name: ragas-1k, namespace: ragas}
spec:
  docCount: 10
  database: {dialect: sqlite, url: /x.db}
${workers}`,
    't',
  ).spec;

test('worker resources: the defaults, with ephemeral-storage; a resource the DatasetState names is taken whole from it', () => {
  assert.deepEqual(workerResources(undefined), {
    requests: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '1Gi' },
    limits: { memory: '4Gi', 'ephemeral-storage': '2Gi' },
  });
  // memory request above the default limit: the default memory limit is not kept under it.
  assert.deepEqual(workerResources({ requests: { memory: '8Gi' }, limits: { cpu: 2 } }), {
    requests: { 'ephemeral-storage': '1Gi', memory: '8Gi' },
    limits: { 'ephemeral-storage': '2Gi', cpu: '2' },
  });
  const d = workerManifests(
    owner,
    spec('  workers: {resources: {limits: {memory: 6Gi}}}'),
    settings,
    1,
    't',
  ).at(-1) as { spec: { template: { spec: { containers: { resources: unknown }[] } } } };
  assert.deepEqual(d.spec.template.spec.containers[0]!.resources, {
    requests: { cpu: '500m', 'ephemeral-storage': '1Gi' },
    limits: { 'ephemeral-storage': '2Gi', memory: '6Gi' },
  });
});

test('worker manifests: Secret, NetworkPolicy, Service, PDB, Deployment in that order; the policy admits only the controller Pods', () => {
  const all = workerManifests(owner, spec(), settings, 2, 'tok');
  assert.deepEqual(
    all.map((m) => m.kind),
    ['Secret', 'NetworkPolicy', 'Service', 'PodDisruptionBudget', 'Deployment'],
  );
  for (const m of all) {
    assert.equal(m.metadata?.namespace, 'ragas');
    assert.deepEqual(m.metadata?.ownerReferences?.[0]?.uid, 'u-1');
  }
  // On the wire (`from`, not the library's `_from`).
  const np = dumpYaml(all[1]!);
  assert.match(
    np,
    /ingress:\n\s+- from:\n\s+- namespaceSelector:\n\s+matchLabels:\n\s+kubernetes.io\/metadata.name: datastate-system\n\s+podSelector:\n\s+matchLabels:\n\s+app.kubernetes.io\/name: datastate\n/,
  );
  assert.match(np, /ports:\n\s+- port: 8080\n\s+protocol: TCP/);
  assert.match(np, /policyTypes:\n\s+- Ingress\n/);
  const pdb = all[3] as { spec: Record<string, unknown> };
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.equal(pdb.spec.minAvailable, undefined);
  // Switched off: neither is written.
  assert.deepEqual(
    workerManifests(
      owner,
      spec(),
      { ...settings, networkPolicy: undefined, podDisruptionBudget: false },
      0,
      't',
    ).map((m) => m.kind),
    ['Secret', 'Service', 'Deployment'],
  );
});

test('the worker accepts as many batches at once as the controller sends each endpoint (no 429 by design)', () => {
  for (const n of [1, 3]) {
    const d = workerManifests(owner, spec(), { ...settings, inFlightPerEndpoint: n }, 1, 't').find(
      (m) => m.kind === 'Deployment',
    ) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const args = d.spec.template.spec.containers[0]!.args;
    assert.equal(args[args.indexOf('--max-in-flight') + 1], String(n), args.join(' '));
  }
});

test('worker flags: labels and resources are parsed, bad ones rejected naming the flag', () => {
  assert.deepEqual(parseLabels('app.kubernetes.io/name=datastate, app.kubernetes.io/component=controller'), {
    'app.kubernetes.io/name': 'datastate',
    'app.kubernetes.io/component': 'controller',
  });
  assert.throws(
    () => parseLabels('novalue'),
    (e: Error) => e instanceof ValidationError && /novalue/.test(e.message),
  );
  assert.throws(() => parseLabels(''), /no labels/);
  assert.deepEqual(parseResources('{"requests":{"cpu":"1","memory":512}}'), {
    requests: { cpu: '1', memory: '512' },
  });
  assert.throws(() => parseResources('{"requests":{"cpu":"lots"}}'), /--worker-resources: requests.cpu/);
  assert.throws(() => parseResources('{"limit":{}}'), /unknown key "limit"/);
  assert.throws(() => parseResources('nope'), /not JSON/);
});

test('spec.workers.threads reaches the worker as DATASTATE_EMBED_THREADS; --worker-env adds variables, never over the own', () => {
  type Env = { name: string; value?: string }[];
  const envOf = (workers: string, extra: WorkerSettings['extraEnv'] = undefined): Env =>
    (
      workerManifests(owner, spec(workers), { ...settings, extraEnv: extra }, 1, 't').at(-1) as {
        spec: { template: { spec: { containers: { env: Env }[] } } };
      }
    ).spec.template.spec.containers[0]!.env;
  assert.equal(
    envOf('').find((e) => e.name === 'DATASTATE_EMBED_THREADS'),
    undefined,
    'unset: the embedder sizes itself',
  );
  assert.deepEqual(
    envOf('  workers: {threads: 1}').find((e) => e.name === 'DATASTATE_EMBED_THREADS'),
    { name: 'DATASTATE_EMBED_THREADS', value: '1' },
  );
  const env = envOf('', [
    { name: 'DATASTATE_HOME', value: '/elsewhere' },
    { name: 'OMP_WAIT_POLICY', value: 'PASSIVE' },
  ]);
  assert.deepEqual(
    env.filter((e) => e.name === 'DATASTATE_HOME').map((e) => e.value),
    ['/var/lib/datastate'],
  );
  assert.deepEqual(env.at(-1), { name: 'OMP_WAIT_POLICY', value: 'PASSIVE' });
  // The schema bounds the field.
  assert.throws(() => spec('  workers: {threads: 0}'), /threads/);
  // The worker side: one session with that many intra-op threads; bad values are errors naming the variable.
  assert.deepEqual(workerParallelism('2'), { sessions: 1, threads: 2 });
  assert.equal(workerParallelism(undefined), undefined);
  assert.equal(workerParallelism(''), undefined);
  assert.throws(() => workerParallelism('1.5'), /DATASTATE_EMBED_THREADS: "1.5"/);
  assert.throws(() => workerParallelism('0'), ValidationError);
});

test('--worker-env: NAME=VALUE (the value may hold = and ,); bad names and the controller-set ones rejected', () => {
  assert.deepEqual(parseEnv(['A=1', 'B=x=y,z', 'A=2']), [
    { name: 'A', value: '2' },
    { name: 'B', value: 'x=y,z' },
  ]);
  assert.deepEqual(parseEnv([]), []);
  assert.throws(() => parseEnv(['novalue']), /--worker-env: "novalue" is not NAME=VALUE/);
  assert.throws(() => parseEnv(['1A=x']), /"1A=x"/);
  assert.throws(() => parseEnv(['DATASTATE_DB_URL=x']), /set by the controller/);
});

test('an inline database URL with a password reaches the workers through a Secret the controller owns, never in clear', () => {
  const password = 'pl@nted-S3cret';
  const url = `postgres://ds:${encodeURIComponent(password)}@db.example:5432/ragas`;
  const withUrl = (u: string) => ({
    ...spec(),
    database: { ...spec().database, dialect: 'postgres' as const, url: u },
  });
  const all = workerManifests(owner, withUrl(url), settings, 1, 'tok');
  assert.deepEqual(
    all.map((m) => m.kind),
    ['Secret', 'Secret', 'NetworkPolicy', 'Service', 'PodDisruptionBudget', 'Deployment'],
  );
  const db = all[1] as { metadata: { name: string; ownerReferences: unknown[] }; data: { url: string } };
  assert.equal(db.metadata.name, 'ragas-1k-embedder-db');
  assert.equal(db.metadata.ownerReferences.length, 1, 'owned by the DatasetState: deleted with it');
  assert.equal(Buffer.from(db.data.url, 'base64').toString('utf8'), url);
  const deployment = all.at(-1) as { spec: { template: { spec: { containers: { env: any[] }[] } } } };
  const env = deployment.spec.template.spec.containers[0]!.env;
  assert.deepEqual(env.find((e) => e.name === 'DATASTATE_DB_URL').valueFrom, {
    secretKeyRef: { name: 'ragas-1k-embedder-db', key: 'url' },
  });
  const inClear = dumpYaml(deployment);
  assert.ok(!inClear.includes(encodeURIComponent(password)) && !inClear.includes(password), inClear);

  // Without a credential the URL stays in the spec: nothing to hide, no extra Secret.
  const plain = workerManifests(owner, withUrl('postgres://db.example/ragas'), settings, 1, 'tok');
  assert.equal(plain.filter((m) => m.kind === 'Secret').length, 1);
  assert.match(dumpYaml(plain.at(-1)), /postgres:\/\/db\.example\/ragas/);
});
