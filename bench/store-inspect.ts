/**
 * The store side of a no-op inspection on a healthy SQLite dataset, for this checkout and another commit side by
 * side in one process (not a test): counts(), candidates() and embeddingStates() of every document, as
 * src/heal/inspect.ts runs them, on one file of `docs` documents x `tokens` token rows (dimension `dim`), written
 * once by SQL (zero vectors: the queries never read vectors) into the schema this checkout's createSchema makes,
 * so its token-row counter's triggers (docs/databases.md) count the rows as they go in; the other commit's store
 * reads the same file its own way. Rounds alternate old, new, new, old, ...
 *
 *   node bench/store-inspect.ts --baseline 7dce2ee [--docs 10000 --tokens 360 --dim 32 --rounds 6]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import type { Store } from '../src/core/store-port.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string', default: 'main' },
    docs: { type: 'string', default: '10000' },
    tokens: { type: 'string', default: '360' },
    dim: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '6' },
  },
});
const DOCS = Number(args.docs);
const TOKENS = Number(args.tokens);
const DIM = Number(args.dim);
const log = (m: string) => process.stderr.write(`${m}\n`);

type Open = (c: object) => Promise<Store>;
const here = new URL('..', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'ds-bench-inspect-'));
try {
  const commit = execFileSync('git', ['-C', here, 'rev-parse', '--short', args.baseline], {
    encoding: 'utf8',
  }).trim();
  execFileSync('sh', ['-c', `git -C '${here}' archive ${commit} | tar -x -C '${root}'`]);
  symlinkSync(join(here, 'node_modules'), join(root, 'node_modules'));
  const old = (await import(join(root, 'src/store/index.ts'))) as { openStore: Open };
  const cur = (await import('../src/store/index.ts')) as unknown as { openStore: Open };
  const file = join(root, 'inspect.db');
  const config = (readOnly: boolean) => ({
    dialect: 'sqlite',
    url: file,
    schema: 'RAG',
    tables: {
      sourceDocuments: 'SourceDocuments',
      tokenEmbeddings: 'DocumentTokenEmbeddings',
      ledger: 'DocumentEmbeddingLedger',
    },
    readOnly,
  });

  // The dataset: the schema as the store makes it, then rows by SQL.
  const maker = await cur.openStore(config(false));
  await maker.createSchema({ dimension: DIM });
  await maker.close();
  log(`writing ${DOCS} documents x ${TOKENS} token rows ...`);
  const db = new DatabaseSync(file);
  db.exec(`
    BEGIN;
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${DOCS})
    INSERT INTO SourceDocuments (doc_id, title, abstract, authors, keywords, content_hash, text_content)
      SELECT printf('PMC%07d', i), 'title', 'an abstract that is long enough to be a real one, number ' || i, '[]', '[]',
             printf('%064d', i), '' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${DOCS})
    INSERT INTO DocumentEmbeddingLedger SELECT printf('PMC%07d', i), 'fp', printf('%064d', i), ${TOKENS}, ${DIM}, '2026-01-01' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${DOCS}),
                   k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j + 1 < ${TOKENS})
    INSERT INTO DocumentTokenEmbeddings SELECT printf('PMC%07d', i), j, 'tok', zeroblob(${DIM * 4}) FROM n, k ORDER BY 1, 2;
    COMMIT;`);
  db.close();

  async function inspectOnce(open: Open): Promise<{ total: number; counts: number; states: number }> {
    const t0 = performance.now();
    const store = await open(config(true));
    const c0 = performance.now();
    const counts = await store.counts();
    const c1 = performance.now();
    const candidates = await store.candidates();
    const s0 = performance.now();
    const states = await store.embeddingStates(candidates.map((c) => c.docId));
    const s1 = performance.now();
    await store.close();
    if (
      counts.tokenRows !== DOCS * TOKENS ||
      counts.documentsWithTokens !== DOCS ||
      counts.orphanDocIds.length
    )
      throw new Error(
        `unexpected counts ${JSON.stringify({ ...counts, orphanDocIds: counts.orphanDocIds.length })}`,
      );
    if (states.some((s) => s.tokenRows !== TOKENS)) throw new Error('unexpected token rows');
    return { total: (s1 - t0) / 1000, counts: (c1 - c0) / 1000, states: (s1 - s0) / 1000 };
  }

  const runs: Record<'old' | 'new', { total: number; counts: number; states: number }[]> = {
    old: [],
    new: [],
  };
  for (let r = 0; r < Number(args.rounds); r++)
    for (const which of r % 2 ? (['new', 'old'] as const) : (['old', 'new'] as const)) {
      const x = await inspectOnce(which === 'old' ? old.openStore : cur.openStore);
      runs[which].push(x);
      log(
        `round ${r + 1} ${which}: ${x.total.toFixed(3)} s (counts ${x.counts.toFixed(3)} s, states ${x.states.toFixed(3)} s)`,
      );
    }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const row = (w: 'old' | 'new', label: string) =>
    `| ${label} | ${median(runs[w].map((x) => x.total)).toFixed(3)} | ${median(runs[w].map((x) => x.counts)).toFixed(3)} | ` +
    `${median(runs[w].map((x) => x.states)).toFixed(3)} |`;
  console.log(
    [
      `\n${DOCS} documents, ${(DOCS * TOKENS).toLocaleString('en-US')} token rows (SQLite, read-only open), medians of ${args.rounds} rounds each, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}\n`,
      '| store | open + counts + candidates + embeddingStates, s | counts(), s | embeddingStates(), s |',
      '| ----- | ----------------------------------------------- | ----------- | -------------------- |',
      row('old', `${commit} (\`${args.baseline}\`)`),
      row('new', 'this checkout'),
    ].join('\n'),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
