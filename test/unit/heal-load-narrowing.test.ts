/**
 * Narrowing a rejected chunk down to the documents at fault, on a real SQLite store (a trigger rejects some):
 * the number of transactions stays near 2k·log2(n), the good documents are all written, and a fault that rejects
 * everything is thrown once as it came.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { DocumentWrite, Store } from '../../src/core/store-port.ts';
import { writeNarrowingDown } from '../../src/heal/load-documents.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import { openSqliteStore } from '../../src/store/embedded.ts';

const dir = mkdtempSync(join(tmpdir(), 'ds-narrow-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function doc(i: number, title = `Title ${i}`): DocumentWrite {
  const abstract = `Abstract ${i}`;
  return {
    docId: `D${String(i).padStart(3, '0')}`,
    title,
    abstract,
    textContent: '',
    authors: [],
    keywords: [],
    contentHash: contentHash(abstract),
  };
}

async function storeWith(
  name: string,
  rule: string,
): Promise<{ store: Store; upserts: () => number; path: string }> {
  const path = join(dir, `${name}.db`);
  const store = openSqliteStore({ path });
  await store.createSchema({ dimension: 4 });
  await store.close();
  const c = new DatabaseSync(path);
  c.exec(
    `CREATE TRIGGER rule BEFORE INSERT ON SourceDocuments ${rule} BEGIN SELECT RAISE(ABORT, 'refused by rule'); END`,
  );
  c.close();
  const real = openSqliteStore({ path });
  let n = 0;
  const counted = Object.create(real) as Store;
  counted.upsertDocuments = (docs) => {
    n++;
    return real.upsertDocuments(docs);
  };
  return { store: counted, upserts: () => n, path };
}

test('two poison documents among 200: found in a bounded number of transactions, the other 198 written', async () => {
  const { store, upserts, path } = await storeWith('two', `WHEN NEW.title LIKE 'POISON%'`);
  const docs = Array.from({ length: 200 }, (_, i) => (i === 17 || i === 150 ? doc(i, 'POISON') : doc(i)));
  const rejected = await writeNarrowingDown(store, docs);
  assert.deepEqual(
    rejected.map((r) => r.doc.docId),
    ['D017', 'D150'],
  );
  assert.match(String((rejected[0]!.error as Error).message), /refused by rule/);
  // 1 + at most 2 per level for each bad document: log2(200) < 8 levels.
  assert.ok(upserts() <= 1 + 2 * 2 * 8, `${upserts()} transactions`);
  await store.close();
  const c = new DatabaseSync(path, { readOnly: true });
  assert.equal((c.prepare('SELECT count(*) AS n FROM SourceDocuments').get() as { n: number }).n, 198);
  c.close();
});

test('a fault that rejects every document is thrown, not reported as poison', async () => {
  const { store } = await storeWith('all', '');
  await assert.rejects(writeNarrowingDown(store, [doc(1), doc(2), doc(3)]), /refused by rule/);
  // One document alone cannot be told apart from poison: it is reported.
  const one = await writeNarrowingDown(store, [doc(4)]);
  assert.equal(one.length, 1);
  await store.close();
});
