/**
 * `datastate worker` as a real process against a PostgreSQL server of the test's own
 * (test/helpers/private-postgres.ts):
 * - SIGTERM drains: a batch in flight (held up by a table lock the test holds) finishes and gets 200, a batch
 *   sent meanwhile gets 503 (the dispatcher sends it elsewhere), /readyz fails, then the process exits 0.
 * - A client that sends its body slowly never holds the only slot: a second client gets 200 meanwhile, the slow
 *   one gets 408 and its connection closed.
 * - Backends terminated three times and a server restart while batches are posted: the worker survives, answers
 *   503 while the database is away, and every batch ends embedded with no partial document.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { runCli, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';
import { assertNoPartialDocument } from '../helpers/partial-documents.ts';

const skip = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';
const TOKEN = 'worker-test-token-0123456789';
const DOCS = 120;
let pg0: PrivatePostgres;
const procs: ChildProcess[] = [];

before(async () => {
  if (skip) return;
  pg0 = await startPrivatePostgres();
  // The documents, and the token table at the small model's dimension.
  const r = await runCli(
    [
      'ensure',
      '--target-state',
      'documents',
      '--doc-count',
      String(DOCS),
      '--source',
      pmcCorpusPath(),
      '--model',
      await smallModelDir(),
      '--dimension',
      String(SMALL_DIM),
      '--quiet',
    ],
    { env: { DATASTATE_DB_URL: pg0.url } },
  );
  assert.equal(r.code, 0, r.stderr);
});

after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  pg0?.destroy();
});

/** A poll that gives up after 2 minutes: a guard against hanging the suite, not a timed assertion. */
function guard(what: string): () => void {
  const until = Date.now() + 120_000;
  return () => {
    if (Date.now() > until) throw new Error(`gave up waiting: ${what}`);
  };
}

type Worker = WorkerProcess;

async function startWorker(extra: string[] = [], database: Record<string, unknown> = {}): Promise<Worker> {
  const w = await startWorkerProcess(
    [
      '--model',
      await smallModelDir(),
      '--spec-json',
      JSON.stringify({
        embedding: { modelPath: await smallModelDir(), dimension: SMALL_DIM },
        database: { dialect: 'postgres', ...database },
      }),
      ...extra,
    ],
    { DATASTATE_DB_URL: pg0.url, DATASTATE_WORKER_TOKEN: TOKEN },
  );
  procs.push(w.child);
  return w;
}

async function fingerprint(w: Worker): Promise<string> {
  const r = await fetch(`${w.url}/v1/model`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await r.json()) as { fingerprint: string }).fingerprint;
}

function docIds(): string[] {
  return pg0
    .psql('SELECT doc_id FROM "RAG"."SourceDocuments" ORDER BY doc_id')
    .trim()
    .split('\n')
    .filter(Boolean);
}

/**
 * fetch, sent once more when the server closed the pooled keep-alive connection it went out on: a draining
 * worker closes its idle connections (as Node's server.close does), and a request written to one at that
 * moment never reached the server. The dispatcher does the same (it retries on another endpoint).
 */
async function fetchOnce(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    // undici reports the closed connection as UND_ERR_SOCKET ("other side closed") or, when the close raced
    // its write, as ECONNRESET.
    const code = (e as { cause?: { code?: string } }).cause?.code;
    if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw e;
    return fetch(url, init);
  }
}

async function postBatch(
  w: Worker,
  ids: string[],
  fp: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetchOnce(`${w.url}/v1/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dataset: 'faults', docIds: ids, fingerprint: fp, dimension: SMALL_DIM }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

function resetEmbeddings(): void {
  // Bounded: a lock a failed test left behind must fail this, not hang the file in a synchronous psql.
  pg0.psql(
    `SET lock_timeout = '30s'; DELETE FROM "RAG"."DocumentTokenEmbeddings"; DELETE FROM "RAG"."DocumentEmbeddingLedger"`,
  );
}

test(
  'SIGTERM drains: the batch in flight gets 200, a new one 503, /readyz fails, exit 0',
  { skip, timeout: 120_000 },
  async (t) => {
    resetEmbeddings();
    // The lock the test holds must not time out meanwhile (database.lockTimeoutMs, 10 s by default).
    const w = await startWorker([], { lockTimeoutMs: 600_000 });
    const fp = await fingerprint(w);
    const ids = docIds();
    // Hold the token table: the batch's write waits on the lock, so it is in flight for as long as we like.
    const blocker = new pg.Client({ connectionString: pg0.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE "RAG"."DocumentTokenEmbeddings" IN ACCESS EXCLUSIVE MODE');
    // Whatever happens below, the lock goes with the test (ending the session rolls the transaction back).
    t.after(() => blocker.end().catch(() => {}));
    const inFlight = postBatch(w, ids.slice(0, 4), fp);
    const check2 = guard('poll 2');
    for (;;) {
      check2();
      const waiting = pg0.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
      );
      if (Number(waiting) > 0) break;
      await delay(100);
    }
    w.child.kill('SIGTERM');
    const check3 = guard('poll 3');
    for (;;) {
      check3();
      const r = await fetchOnce(`${w.url}/readyz`);
      const text = await r.text();
      if (r.status === 503) {
        assert.match(text, /draining/);
        break;
      }
      await delay(50);
    }
    const refused = await postBatch(w, ids.slice(4, 8), fp).catch((e: Error) => {
      throw new Error(`${e.message}: ${String(e.cause)}\n${w.log.join('\n')}`);
    });
    assert.equal(refused.status, 503);
    assert.match(String(refused.body.error), /draining/);
    assert.equal(w.child.exitCode, null, 'the worker must wait for the batch in flight');
    await blocker.query('ROLLBACK');
    await blocker.end();
    const answered = await inFlight;
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.equal(answered.body.embedded, 4);
    assert.equal(await w.exited, 0, w.log.join('\n'));
    assert.match(w.log.join('\n'), /SIGTERM: draining/);
    assert.equal(pg0.psql('SELECT count(*) FROM "RAG"."DocumentEmbeddingLedger"').trim(), '4');
    assertNoPartialDocument(pg0);
  },
);

test(
  'a slow body never holds the only slot: a second client gets 200, the slow one 408',
  { skip, timeout: 120_000 },
  async () => {
    resetEmbeddings();
    const w = await startWorker(['--max-in-flight', '1', '--body-timeout', '2']);
    const fp = await fingerprint(w);
    const ids = docIds();
    const { port } = new URL(w.url);
    const slow = connect(Number(port), '127.0.0.1');
    let slowAnswer = '';
    slow.on('data', (d) => (slowAnswer += d));
    const slowClosed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    const body = JSON.stringify({
      dataset: 'faults',
      docIds: ids.slice(0, 4),
      fingerprint: fp,
      dimension: SMALL_DIM,
    });
    slow.write(
      `POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    // Wait until the server is reading the slow body, then a second client asks for the only slot.
    const check4 = guard('poll 4');
    for (;;) {
      check4();
      const metrics = await (await fetch(`${w.url}/metrics`)).text();
      if (/\ndatastate_worker_bodies_being_read 1\n/.test(metrics)) break;
      assert.equal(slowAnswer, '', 'the slow client was answered before its body was read');
      await delay(20);
    }
    const second = await postBatch(w, ids.slice(4, 8), fp);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.embedded, 4);
    await slowClosed;
    assert.match(slowAnswer, /^HTTP\/1\.1 408 /);
    assert.match(slowAnswer, /request body not received within 2 s/);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.equal(pg0.psql('SELECT count(*) FROM "RAG"."DocumentEmbeddingLedger"').trim(), '4');
  },
);

test(
  'backends terminated three times and a server restart while batches are posted: the worker survives, every batch ends embedded, no partial document',
  { skip, timeout: 120_000 },
  async () => {
    resetEmbeddings();
    const w = await startWorker();
    const fp = await fingerprint(w);
    const ids = docIds();
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += 4) batches.push(ids.slice(i, i + 4));
    const statuses = new Map<number, number>();
    const failed = new Set<string>();
    let done = false;
    let disrupting = true;
    // A dispatcher of the test's own: one batch at a time, tried again (after 200 ms) until it gets 200; paced
    // while the faults are being made, so that they happen while batches are posted.
    const dispatch = (async () => {
      for (const b of batches) {
        if (disrupting) await delay(250);
        const check5 = guard('poll 5');
        for (;;) {
          check5();
          const r = await postBatch(w, b, fp).catch((e: Error) => ({
            status: 0,
            body: { error: e.message } as Record<string, unknown>,
          }));
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) {
            // Every document is embedded or failed for its own reason (a PMC record with an empty abstract).
            const failures = r.body.failures as { docId: string }[];
            assert.equal(Number(r.body.embedded) + failures.length, b.length, JSON.stringify(r.body));
            for (const f of failures) failed.add(f.docId);
            break;
          }
          assert.ok(r.status === 503 || r.status === 0, `HTTP ${r.status}: ${JSON.stringify(r.body)}`);
          await delay(200);
        }
      }
      done = true;
    })();
    let terminations = 0;
    while (!done && terminations < 3) {
      await delay(300);
      if (pg0.terminateBackends() > 0) terminations++;
    }
    let restarted = false;
    if (!done) {
      pg0.stopImmediate();
      await delay(3000);
      pg0.start();
      restarted = !done;
    }
    disrupting = false;
    await dispatch;
    assert.equal(terminations, 3, 'the batches were all done before three terminations');
    assert.ok(restarted, 'the batches were all done before the server restart');
    assert.equal(w.child.exitCode, null, `the worker died: ${w.log.join('\n')}`);
    const health = await fetch(`${w.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(
      pg0.psql('SELECT count(*) FROM "RAG"."DocumentEmbeddingLedger"').trim(),
      String(ids.length - failed.size),
    );
    assertNoPartialDocument(pg0);
    const log = w.log.join('\n');
    assert.doesNotMatch(log, /Unhandled|S3cret|\n {4}at /);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, log);
  },
);

test(
  'the database away: batches get 503 naming it, the worker stays up, and succeeds when it is back',
  { skip, timeout: 120_000 },
  async () => {
    resetEmbeddings();
    const w = await startWorker();
    const fp = await fingerprint(w);
    const ids = docIds();
    pg0.stopImmediate();
    try {
      const r = await postBatch(w, ids.slice(0, 4), fp);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(String(r.body.error), /^the database is unavailable: /);
      assert.equal((await fetch(`${w.url}/healthz`)).status, 200);
    } finally {
      pg0.start();
    }
    const ok = await postBatch(w, ids.slice(0, 4), fp);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const log = w.log.join('\n');
    assert.match(log, /the database is unavailable/);
    assert.doesNotMatch(log, /S3cret|pl@nted|\n {4}at /);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, log);
  },
);
