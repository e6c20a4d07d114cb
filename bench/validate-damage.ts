/**
 * What looking for damaged token rows costs a validate pass, at 10k documents. Not a test.
 *
 *   node bench/validate-damage.ts [--docs 10000 --tokens 200 --dim 128 --rounds 5] [--pg]
 *
 * Builds a SQLite file (and, with --pg and DATASTATE_TEST_PG_URL, a PostgreSQL database) of `docs` documents
 * with `tokens` token rows of `dim` float32 each (generated vectors: the cost depends on the bytes, not on the
 * model), then times, side by side in rounds (the order alternating each round), the inspection of the
 * ragas-eval target of all documents:
 *   - no vectors read (vectorSampleDocs 0): the counting aggregate alone, which now also yields MIN/MAX
 *     token_index (rows out of sequence);
 *   - the default bounded sample (VECTOR_SAMPLE_DOCS documents' vectors read);
 *   - every vector read (Store.badVectors of all documents): what an unbounded check would cost.
 * And the counting aggregate with and without MIN/MAX, as raw SQL. Medians are printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import type { EmbeddingWrite, Store } from '../src/core/store-port.ts';
import { contentHash } from '../src/store/content-hash.ts';
import { openSqliteStore } from '../src/store/embedded.ts';
import { inspect, VECTOR_SAMPLE_DOCS } from '../src/heal/inspect.ts';

const { values: o } = parseArgs({
  options: {
    docs: { type: 'string', default: '10000' },
    tokens: { type: 'string', default: '200' },
    dim: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
  },
});
const DOCS = Number(o.docs);
const TOKENS = Number(o.tokens);
const DIM = Number(o.dim);
const ROUNDS = Number(o.rounds);
const id = (i: number) => `PMC${String(i).padStart(7, '0')}`;

async function fill(store: Store): Promise<void> {
  await store.createSchema({ dimension: DIM });
  const abstract = 'An abstract long enough to be a real one, about nothing in particular. '.repeat(3);
  for (let i = 0; i < DOCS; i += 500) {
    const docs = [];
    for (let j = i; j < Math.min(DOCS, i + 500); j++)
      docs.push({
        docId: id(j),
        title: `Title ${j}`,
        abstract,
        textContent: '',
        authors: [],
        keywords: [],
        contentHash: contentHash(abstract),
      });
    await store.upsertDocuments(docs);
  }
  const tokens = Array.from({ length: TOKENS }, (_, k) => `tok${k}`);
  for (let i = 0; i < DOCS; i += 50) {
    const writes: EmbeddingWrite[] = [];
    for (let j = i; j < Math.min(DOCS, i + 50); j++) {
      const vectors = new Float32Array(TOKENS * DIM);
      for (let k = 0; k < vectors.length; k++) vectors[k] = Math.sin(j * 7 + k) * 0.1;
      writes.push({
        embedding: { docId: id(j), tokens, vectors, dimension: DIM },
        ledger: {
          docId: id(j),
          modelFingerprint: 'bench',
          contentHash: contentHash(abstract),
          tokenCount: TOKENS,
          dimension: DIM,
          embeddedAt: new Date().toISOString(),
        },
      });
    }
    await store.writeEmbeddings(writes);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'ds-bench-damage-'));
try {
  const path = join(dir, 'bench.db');
  const t0 = performance.now();
  const store = openSqliteStore({ path });
  await fill(store);
  console.log(
    `SQLite: ${DOCS} documents x ${TOKENS} token rows x dim ${DIM} (${((DOCS * TOKENS * DIM * 4) / 2 ** 20).toFixed(0)} MiB of vectors), built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const selection = { orderBy: 'doc_id' as const, seed: 0 };
  const expect = { dimension: DIM };
  const all = Array.from({ length: DOCS }, (_, i) => id(i));
  const cases: [string, () => Promise<unknown>][] = [
    ['inspect, no vectors read', () => inspect(store, DOCS, selection, expect, { vectorSampleDocs: 0 })],
    [`inspect, ${VECTOR_SAMPLE_DOCS}-document vector sample`, () => inspect(store, DOCS, selection, expect)],
    ['every vector read (unbounded)', () => store.badVectors(all)],
  ];
  const raw = new DatabaseSync(path, { readOnly: true });
  const count = raw.prepare(`SELECT doc_id, COUNT(*) AS n FROM DocumentTokenEmbeddings GROUP BY doc_id`);
  const countMinMax = raw.prepare(
    `SELECT doc_id, COUNT(*) AS n, MIN(token_index) AS lo, MAX(token_index) AS hi FROM DocumentTokenEmbeddings GROUP BY doc_id`,
  );
  cases.push(['raw: COUNT per document', async () => count.all()]);
  cases.push(['raw: COUNT, MIN, MAX per document', async () => countMinMax.all()]);
  const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const [name, fn] of order) times.get(name)!.push(await time(fn));
  }
  raw.close();
  const base = median(times.get(cases[0]![0])!);
  for (const [name] of cases) {
    const m = median(times.get(name)!);
    console.log(
      `  ${name.padEnd(42)} ${m.toFixed(0).padStart(7)} ms  (${(m / base).toFixed(2)}x the no-vector inspection)`,
    );
  }
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
