/**
 * The controller while its database is down, on a real API server (test/envtest) with a PostgreSQL server of the
 * test's own (test/helpers/private-postgres.ts) that is stopped and started again: the controller keeps running,
 * the DatasetState goes Degraded with lastError naming the failure (never the password), is retried with
 * backoff, and is Ready again once the database is back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import {
  createDatasetState,
  DATASET_STATES as G,
  installCrd,
  waitFor as waitForRaw,
} from '../helpers/k8s.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { CLI, REPO, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const NS = 'ds-db-down';
const skip = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';

let env: Envtest;
let pg: PrivatePostgres;
let dir: string;
let controller: ChildProcess | null = null;
const log: string[] = [];

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 120_000) =>
  waitForRaw(what, fn, { timeoutMs, context: () => log.slice(-20).join('\n') });

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ds-db-down-'));
  await smallModelDir();
  pg = await startPrivatePostgres();
  env = await startEnvtest();
  await installCrd(env);
  await env.kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: NS } } })
    .catch(() => undefined);
});

after(async () => {
  if (controller && controller.exitCode === null) {
    const exited = new Promise((r) => controller!.once('exit', r));
    controller.kill('SIGKILL');
    await exited;
  }
  await env?.stop();
  pg?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(
  'database down: Degraded with lastError (no password), retried with backoff, Ready when it is back; the controller never exits',
  { skip },
  async () => {
    controller = spawn(
      process.execPath,
      [CLI, 'controller', '--kubeconfig', env.kubeconfigPath, '--metrics-port', '0', '--resync', '3'],
      {
        cwd: REPO,
        env: { ...process.env, DATASTATE_HOME: join(dir, 'home') },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    controller.stderr!.on('data', (d) => log.push(...String(d).split('\n').filter(Boolean)));
    const custom = env.kc.makeApiClient(CustomObjectsApi);
    const core = env.kc.makeApiClient(CoreV1Api);
    const get = async (): Promise<any> =>
      custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'pg-blip' });
    const cond = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
    await createDatasetState(custom, NS, 'pg-blip', {
      docCount: 20,
      source: { type: 'pmc-xml', path: pmcCorpusPath() },
      // Inline on purpose: the password must still appear nowhere.
      database: { dialect: 'postgres', url: pg.url },
      embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
    });
    await waitFor('Ready', async () => cond(await get(), 'Ready')?.status === 'True');

    pg.stopImmediate();
    const down = await waitFor('Degraded while the database is down', async () => {
      const o = await get();
      return (
        cond(o, 'Degraded')?.status === 'True' && /database is unavailable/.test(o.status.lastError) && o
      );
    });
    assert.equal(down.status.phase, 'Degraded');
    assert.equal(cond(down, 'Ready').status, 'False');
    assert.match(down.status.lastError, /ECONNREFUSED|connect|terminat/i);
    // Retried with backoff: more than one failed pass while the database stays away.
    await waitFor('retried', async () => log.filter((l) => l.includes('retrying with backoff')).length >= 2);
    assert.equal(controller.exitCode, null, 'the controller is still running');

    pg.start();
    const back = await waitFor('Ready again', async () => {
      const o = await get();
      return cond(o, 'Ready')?.status === 'True' && o;
    });
    assert.equal(back.status.phase, 'Ready');
    assert.equal(back.status.embedded, 20);
    // The status is written whole: the outage's error does not outlive it.
    assert.equal(back.status.lastError, undefined, JSON.stringify(back.status));
    assert.equal(controller.exitCode, null);

    const events = (
      await core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=pg-blip' })
    ).items.map((e) => ({ reason: e.reason, message: e.message }));
    assert.ok(
      events.some((e) => e.reason === 'DatabaseUnavailable'),
      JSON.stringify(events),
    );
    const everything = JSON.stringify([down.status, back.status, events]) + log.join('\n');
    for (const secret of [pg.password, encodeURIComponent(pg.password)])
      assert.ok(!everything.includes(secret), 'the password appears in no status, event or log line');
    assert.ok(!log.some((l) => l.includes('Unhandled')), 'no unhandled error');
  },
);
