/**
 * Poison records against the real databases, through the CLI: a document the database rejects is narrowed down
 * from its chunk and reported with its origin and the database's reason while every other document loads, and
 * real PMC articles with damaged members (invalid UTF-8, a parser exception, a truncated file) fail alone.
 * PostgreSQL runs privately for this file (test/helpers/private-postgres.ts) and refuses a NUL in text; SQLite
 * stores a NUL, so there a trigger of the site's (RAISE(ABORT)) is what rejects a document.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c as createTar } from 'tar';
import { parseJatsFile } from '../../src/corpus/index.ts';
import { extractPmcCorpus } from '../helpers/corpus.ts';
import { reportOf, runCli } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const noPg = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';
let tmp: string;
let pg: PrivatePostgres | undefined;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ds-poison-'));
  if (!noPg) pg = await startPrivatePostgres({ port: 55531 });
});
after(() => {
  pg?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** 30 documents as JSONL; line 7 has a NUL in its abstract, line 12 a title a site rule refuses. */
function poisonJsonl(): string {
  const lines: string[] = [];
  for (let i = 1; i <= 30; i++) {
    const abstract = i === 7 ? 'An abstract with a NUL \u0000 byte in it.' : `The abstract of document ${i}.`;
    const title = i === 12 ? 'POISON title' : `Title ${i}`;
    lines.push(JSON.stringify({ doc_id: `D${String(i).padStart(2, '0')}`, title, abstract }));
  }
  const path = join(tmp, 'poison.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

function ensureDocuments(
  source: string,
  db: string | undefined,
  docCount: number,
  env: NodeJS.ProcessEnv = {},
) {
  return runCli(
    [
      'ensure',
      '--target-state',
      'documents',
      '--doc-count',
      String(docCount),
      '--source',
      source,
      ...(db === undefined ? [] : ['--db', db]),
      '--output',
      'json',
    ],
    { env },
  );
}

function skippedOf(report: Record<string, any>): { origin: string; reason: string }[] {
  return report.skippedFiles as { origin: string; reason: string }[];
}

describe('a document the database rejects', () => {
  it(
    'PostgreSQL: the NUL document is reported with file:line and the reason; the other 29 load',
    { skip: noPg },
    async () => {
      const source = poisonJsonl();
      const r = await ensureDocuments(source, undefined, 29, { DATASTATE_DB_URL: pg!.url });
      const report = reportOf(r);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(report.ready, true);
      const skipped = skippedOf(report);
      assert.equal(skipped.length, 1, JSON.stringify(skipped));
      assert.equal(skipped[0]!.origin, 'poison.jsonl:7');
      assert.match(
        skipped[0]!.reason,
        /^the database rejected document D07: invalid byte sequence for encoding "UTF8": 0x00/,
      );
      assert.match(r.stderr, /skipped poison\.jsonl:7: the database rejected document D07/);
      assert.equal(pg!.psql('SELECT count(*) FROM "RAG"."SourceDocuments"').trim(), '29');
      assert.equal(pg!.psql(`SELECT count(*) FROM "RAG"."SourceDocuments" WHERE doc_id = 'D07'`).trim(), '0');
      assert.ok(!r.stdout.includes(pg!.password) && !r.stderr.includes(pg!.password));
      // A rerun converges: nothing more to load, READY.
      const again = await ensureDocuments(source, undefined, 29, { DATASTATE_DB_URL: pg!.url });
      assert.equal(again.code, 0, again.stderr);
    },
  );

  it('SQLite: a document a trigger refuses is reported; the load takes another in its place', async () => {
    const db = join(tmp, 'rejects.db');
    const source = poisonJsonl();
    // First a run that makes the schema, then the site's rule.
    const first = await ensureDocuments(source, db, 1);
    assert.equal(first.code, 0, first.stderr);
    const conn = new DatabaseSync(db);
    conn.exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON SourceDocuments WHEN NEW.title LIKE '%POISON%'
               BEGIN SELECT RAISE(ABORT, 'a site rule refuses this title'); END`);
    conn.close();
    // 29 of the 30 can be stored (SQLite stores the NUL): asking for all 29 must skip only line 12.
    const r = await ensureDocuments(source, db, 29);
    const report = reportOf(r);
    assert.equal(r.code, 0, r.stderr);
    const skipped = skippedOf(report);
    assert.deepEqual(
      skipped.map((s) => s.origin),
      ['poison.jsonl:12'],
    );
    assert.match(skipped[0]!.reason, /^the database rejected document D12: a site rule refuses this title/);
    const check = new DatabaseSync(db, { readOnly: true });
    const n = check.prepare('SELECT count(*) AS n FROM SourceDocuments').get() as { n: number };
    const nul = check.prepare(`SELECT abstract FROM SourceDocuments WHERE doc_id = 'D07'`).get() as {
      abstract: string;
    };
    check.close();
    assert.equal(n.n, 29);
    assert.ok(nul.abstract.includes('\u0000'));
  });

  it('SQLite: a fault that is not in the data (every document refused) fails the run, once, with the reason', async () => {
    const db = join(tmp, 'refuses-all.db');
    const source = poisonJsonl();
    assert.equal((await ensureDocuments(source, db, 1)).code, 0);
    const conn = new DatabaseSync(db);
    conn.exec(
      `CREATE TRIGGER refuse_all BEFORE INSERT ON SourceDocuments BEGIN SELECT RAISE(ABORT, 'no writes today'); END`,
    );
    conn.close();
    const r = await ensureDocuments(source, db, 29);
    const report = reportOf(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(report.error.message, /no writes today/);
    assert.equal((report.skippedFiles ?? []).length, 0, 'not reported as 29 poison documents');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
  });
});

describe('real PMC articles with damaged members', () => {
  let archive: string;
  let goodWithAbstract: number;
  const damaged = new Map<string, RegExp>();

  before(async () => {
    const corpus = join(await extractPmcCorpus(), 'data');
    const all: string[] = [];
    for (const d of readdirSync(corpus).sort())
      for (const f of readdirSync(join(corpus, d)).sort()) if (f.endsWith('.xml')) all.push(join(d, f));
    const picked = all.slice(0, 40);
    const root = join(tmp, 'pmc');
    for (const rel of picked) {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      copyFileSync(join(corpus, rel), join(root, rel));
    }
    // 1. An invalid byte (latin-1 é) inside the abstract.
    const [a, b, c] = [picked[3]!, picked[11]!, picked[25]!];
    const bytesA = readFileSync(join(root, a));
    const at = bytesA.indexOf('<abstract') + 20;
    bytesA[at] = 0xe9;
    writeFileSync(join(root, a), bytesA);
    damaged.set(a, /^invalid UTF-8: 1 invalid byte sequence, the first at byte \d+/);
    // 2. Well-formed, but nested deeper than the extraction's stack: an exception that is not a syntax error.
    const deep = 100_000;
    const textB = readFileSync(join(root, b), 'utf8').replace(
      /<abstract([^>]*)>/,
      `<abstract$1><p>${'<italic>'.repeat(deep)}x${'</italic>'.repeat(deep)}</p>`,
    );
    writeFileSync(join(root, b), textB);
    damaged.set(b, /^cannot parse: Maximum call stack size exceeded/);
    // 3. Cut off in the middle.
    const textC = readFileSync(join(root, c));
    writeFileSync(join(root, c), textC.subarray(0, Math.floor(textC.length / 2)));
    damaged.set(c, /^not well-formed XML/);

    goodWithAbstract = 0;
    for (const rel of picked) {
      if (damaged.has(rel)) continue;
      const [item] = parseJatsFile(readFileSync(join(root, rel)), rel);
      if (item?.ok && item.doc.abstract !== '') goodWithAbstract++;
    }
    archive = join(tmp, 'damaged.tar.gz');
    await createTar({ gzip: true, file: archive, cwd: root }, picked);
  });

  const check = (report: Record<string, any>) => {
    assert.equal(report.ready, true);
    const skipped = skippedOf(report);
    assert.deepEqual(skipped.map((s) => s.origin).sort(), [...damaged.keys()].sort());
    for (const s of skipped) assert.match(s.reason, damaged.get(s.origin)!, s.origin);
  };

  it('SQLite: the three damaged members are reported, every other article loads', async () => {
    const db = join(tmp, 'pmc.db');
    const r = await ensureDocuments(archive, db, goodWithAbstract);
    assert.equal(r.code, 0, r.stderr);
    check(reportOf(r));
    const conn = new DatabaseSync(db, { readOnly: true });
    const n = conn
      .prepare(`SELECT count(*) AS n FROM SourceDocuments WHERE length(trim(abstract)) > 0`)
      .get() as {
      n: number;
    };
    conn.close();
    assert.equal(n.n, goodWithAbstract);
  });

  it('PostgreSQL: the same', { skip: noPg }, async () => {
    pg!.psql('DROP SCHEMA IF EXISTS "RAG" CASCADE');
    const r = await ensureDocuments(archive, undefined, goodWithAbstract, { DATASTATE_DB_URL: pg!.url });
    assert.equal(r.code, 0, r.stderr);
    check(reportOf(r));
    const n = pg!.psql(`SELECT count(*) FROM "RAG"."SourceDocuments" WHERE length(trim(abstract)) > 0`);
    assert.equal(Number(n.trim()), goodWithAbstract);
  });
});
