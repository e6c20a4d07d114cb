/**
 * The Store contract as tests: storeConformance(backend) declares the same suite for one backend of
 * test/helpers/databases.ts. test/store/conformance.test.ts runs it on every database we can run;
 * test/unit/store-memory.test.ts on the in-memory store. Out-of-band changes (another program altering the
 * tables) go through the backend's OutOfBand operations, so the suite is the same for SQL and for memory.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DocumentWrite, EmbeddingWrite, Store } from '../../src/core/store-port.ts';
import type { Candidate } from '../../src/core/store-port.ts';
import { selectTarget, type Selection } from '../../src/core/selection.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { openTestDb, skipReason, type BackendName, type TestDb } from './databases.ts';
import type { TableNameOptions } from '../../src/store/sql/dialect.ts';
import type { VectorPrecision } from '../../src/store/sql/vectors.ts';

const DIM = 4;

function doc(docId: string, abstract: string, pubDate?: string): DocumentWrite {
  return {
    docId,
    title: `T ${docId}`,
    abstract,
    textContent: 'body text',
    authors: ['A B'],
    keywords: ['k'],
    pubDate,
    contentHash: contentHash(abstract),
  };
}

function emb(docId: string, n: number, hash: string, dim = DIM, base = 0.5): EmbeddingWrite {
  const vectors = new Float32Array(n * dim).map((_, i) => base + i);
  return {
    embedding: { docId, tokens: Array.from({ length: n }, (_, i) => `t${i}`), vectors, dimension: dim },
    ledger: {
      docId,
      modelFingerprint: 'fp',
      contentHash: hash,
      tokenCount: n,
      dimension: dim,
      embeddedAt: '2026-01-01T00:00:00.000Z',
    },
  };
}

/** Retries what the store calls transient, as the healing engine does. */
async function retrying<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 30 || !store.isTransient(e)) throw e;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
    }
  }
}

/** Values that float32 keeps exactly (the extremes of its range, a subnormal, 1/3). */
const SPECIAL_FLOAT32 = [
  0.1,
  1e-8,
  3.4028234663852886e38,
  -1.1754943508222875e-38,
  1.401298464324817e-45,
  123456.789,
  -2.5,
  1 / 3,
];
/** The same for float16: its largest finite value, smallest normal and subnormal, one that rounds to 0. */
const SPECIAL_FLOAT16 = [0.1, 1e-9, 65504, -6.103515625e-5, 5.960464477539063e-8, 123.456, -2.5, 1 / 3];

/**
 * The suite on one backend, with the token table at the given precision (database.vectorPrecision): float32
 * round-trips every float exactly, float16 every float as Math.f16round makes it.
 */
export function storeConformance(backend: BackendName, precision: VectorPrecision = 'float32'): void {
  const title = precision === 'float32' ? backend : `${backend}, float16 vectors`;
  describe(`store conformance: ${title}`, { skip: skipReason(backend) }, () => {
    const it = (title: string, fn: (db: TestDb, store: Store) => Promise<void>, names?: TableNameOptions) =>
      test(title, async () => {
        const db = await openTestDb(backend as BackendName, { vectorPrecision: precision, ...names });
        try {
          await fn(db, db.store);
        } finally {
          await db.cleanup();
        }
      });

    it('schema: a fresh database is empty; createSchema makes it whole, a second time changes nothing', async (db, store) => {
      const before = await store.checkSchema({ dimension: DIM });
      assert.equal(before.empty, true);
      assert.equal(before.ok, false);
      assert.ok(before.problems.length >= 4, JSON.stringify(before.problems));
      for (const p of before.problems) {
        assert.equal(p.kind, 'missing', JSON.stringify(p));
        assert.match(p.fix, /^CREATE /);
      }
      assert.ok(before.problems.some((p) => p.object === 'RAG.DocumentTokenEmbeddings'));
      await store.createSchema({ dimension: DIM });
      assert.deepEqual(await store.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
      await store.createSchema({ dimension: DIM });
      const other = await db.openAnother();
      assert.deepEqual(await other.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
    });

    it('schema: a dimension mismatch names the exact DDL that fixes it, and running it does', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([doc('A', 'an abstract that is long enough')]);
      await store.writeEmbeddings([emb('A', 2, 'h')]);
      const r = await store.checkSchema({ dimension: 8 });
      assert.equal(r.ok, false);
      assert.equal(r.empty, false);
      assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
      const [p] = r.problems;
      assert.equal(p!.kind, 'mismatch');
      assert.equal(p!.object, 'RAG.DocumentTokenEmbeddings.token_embedding');
      assert.match(p!.problem, /vector dimension is 4, expected 8/);
      await db.runFix(p!.fix);
      assert.deepEqual(await store.checkSchema({ dimension: 8 }), { ok: true, empty: false, problems: [] });
      // the stale vectors and their ledger are gone; vectors of the new dimension go in, the old ones no longer do
      assert.deepEqual((await store.embeddingStates(['A']))[0], {
        docId: 'A',
        contentHash: contentHash('an abstract that is long enough'),
        ledger: null,
        tokenRows: 0,
      });
      await store.writeEmbeddings([emb('A', 3, 'h', 8)]);
      assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 3);
      await assert.rejects(store.writeEmbeddings([emb('A', 3, 'h', 4)]));
    });

    it('damage: token_index range, bad vectors found, an empty token table of another dimension rebuilt', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([
        doc('A', 'an abstract that is long enough'),
        doc('B', 'another abstract here'),
      ]);
      const zeroed = emb('B', 3, 'h');
      zeroed.embedding.vectors.fill(0, DIM, 2 * DIM); // token row 1 all zeros
      await store.writeEmbeddings([emb('A', 3, 'h'), zeroed]);
      const [a] = await store.embeddingStates(['A']);
      assert.equal(a!.firstIndex, 0);
      assert.equal(a!.lastIndex, 2);
      assert.deepEqual([...(await store.badVectors(['A', 'B']))], [['B', 1]]);
      // Not empty: never dropped, the DDL is named.
      await assert.rejects(
        store.rebuildEmptyTokenTable({ dimension: 8 }),
        /holds 6 token rows.*fix: DROP TABLE/,
      );
      await store.deleteEmbeddings(['A', 'B']);
      await store.rebuildEmptyTokenTable({ dimension: 8 });
      assert.deepEqual(await store.checkSchema({ dimension: 8 }), { ok: true, empty: false, problems: [] });
      await store.writeEmbeddings([emb('A', 2, 'h', 8)]);
      await store.rebuildEmptyTokenTable({ dimension: 8 }); // nothing to do
      assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 2);
    });

    it('schema: a dropped trigger or column is reported with the DDL that restores it', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await db.dropTrigger();
      const r = await store.checkSchema({ dimension: DIM });
      assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
      assert.equal(r.problems[0]!.kind, 'missing');
      assert.equal(r.problems[0]!.object, 'RAG.SourceDocuments_content_changed');
      assert.match(r.problems[0]!.fix, /^CREATE TRIGGER/);
      await db.runFix(r.problems[0]!.fix);
      assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);

      await db.dropColumn('origin');
      const c = await store.checkSchema({ dimension: DIM });
      assert.equal(c.problems.length, 1, JSON.stringify(c.problems));
      assert.deepEqual(
        [c.problems[0]!.kind, c.problems[0]!.object, c.problems[0]!.problem],
        ['mismatch', 'RAG.SourceDocuments.origin', 'column does not exist'],
      );
      assert.match(c.problems[0]!.fix, /^ALTER TABLE .* ADD COLUMN/);
      await db.runFix(c.problems[0]!.fix);
      assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
    });

    it('inspection: counts, candidates and anti-joins by set queries; ids in the order asked, in chunks', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      const real = 'An abstract long enough to be real.';
      await store.upsertDocuments([
        doc('PMC2', real, '2021-02-03'),
        doc('PMC1', ''),
        doc('PMC3', 'N/A'),
        doc('PMC4', '   '),
      ]);
      await store.writeEmbeddings([
        emb('PMC2', 3, contentHash(real)),
        emb('GHOST2', 2, 'x'),
        emb('GHOST1', 1, 'y'),
      ]);
      assert.deepEqual(await store.counts(), {
        documents: 4,
        documentsWithAbstract: 2,
        documentsWithTokens: 3,
        tokenRows: 6,
        orphanDocIds: ['GHOST1', 'GHOST2'],
      });
      const cands = (await store.candidates()).sort((a, b) => (a.docId < b.docId ? -1 : 1));
      assert.deepEqual(cands, [
        { docId: 'PMC2', pubDate: '2021-02-03', abstractLength: 35, shortAbstract: real },
        { docId: 'PMC3', pubDate: null, abstractLength: 3, shortAbstract: 'N/A' },
      ]);
      // a ledger row lost behind our back: token rows without a ledger are a partial set
      await db.deleteRow('ledger', 'GHOST1');
      if (db.store instanceof SqlStore) Object.defineProperty(db.store.sql, 'idChunk', { value: 2 }); // several chunks per call
      const states = await store.embeddingStates(['PMC3', 'PMC2', 'NOPE', 'GHOST1', 'PMC1']);
      assert.deepEqual(
        states.map((s) => [s.docId, s.tokenRows, s.ledger?.tokenCount ?? null, s.contentHash]),
        [
          ['PMC3', 0, null, contentHash('N/A')],
          ['PMC2', 3, 3, contentHash(real)],
          ['NOPE', 0, null, null],
          ['GHOST1', 1, null, null],
          ['PMC1', 0, null, contentHash('')],
        ],
      );
      assert.deepEqual([...(await store.existingDocIds(['PMC1', 'X', 'PMC3', 'PMC1', 'GHOST2']))].sort(), [
        'PMC1',
        'PMC3',
      ]);
      assert.deepEqual(await store.embeddingStates([]), []);
      assert.deepEqual(await store.existingDocIds([]), new Set());
    });

    it('target set: doc_id order, newest first and seeded random select the same documents as from the source', async (_db, store) => {
      await store.createSchema({ dimension: DIM });
      const long = (i: number) => `Abstract number ${i} about proteins, long enough to count as a real one.`;
      const docs: DocumentWrite[] = [];
      const dates = ['2020-01-05', '2021', '2021-03', undefined, '2019-12-31', '2021-03-01', '2024-07-07'];
      const ids = ['PMC10', 'PMC9', 'pmc9', 'PMC100', 'a', 'B', 'PMC_1', 'PMC-1', 'Z9', 'PMC0010'];
      ids.forEach((id, i) => docs.push(doc(id, long(i), dates[i % dates.length])));
      docs.push(
        doc('E1', ''),
        doc('E2', '  '),
        doc('P1', 'N/A'),
        doc('P2', 'No abstract available.'),
        doc('S1', 'Too short.'),
      );
      docs.push(
        doc('U1', '  Über 😀 die Proteine — ein Abstract mit Zeichen außerhalb von ASCII.  ', '2022-02-02'),
      );
      docs.push(doc('U2', `${'x'.repeat(63)}`, '2022-02-02'), doc('U3', `${'y'.repeat(64)}`, '2022-02-02'));
      await store.upsertDocuments(docs);
      // The reference: what the candidates must be, computed from the documents themselves.
      const expected: Candidate[] = docs
        .map((d) => {
          const trimmed = d.abstract.replace(/^ +| +$/g, '');
          const n = [...trimmed].length;
          return {
            docId: d.docId,
            pubDate: d.pubDate ?? null,
            abstractLength: n,
            shortAbstract: n < 64 ? trimmed : null,
          };
        })
        .filter((c) => c.abstractLength > 0);
      const live = await store.candidates();
      const byId = (a: Candidate, b: Candidate) => (a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : 0);
      assert.deepEqual([...live].sort(byId), [...expected].sort(byId));
      const selections: Selection[] = [
        { orderBy: 'doc_id', seed: 0 },
        { orderBy: 'newest', seed: 0 },
        { orderBy: 'random', seed: 42 },
        { orderBy: 'random', seed: 7 },
      ];
      for (const sel of selections)
        for (const n of [1, 5, 12, 100])
          assert.deepEqual(
            selectTarget(live, sel, n).map((c) => c.docId),
            selectTarget(expected, sel, n).map((c) => c.docId),
            `${sel.orderBy}/${sel.seed}/${n}`,
          );
      assert.deepEqual(
        selectTarget(live, { orderBy: 'doc_id', seed: 0 }, 4).map((c) => c.docId),
        ['B', 'P1', 'P2', 'PMC-1'],
      );
    });

    it('writes: vectors round-trip exactly; a batch with one bad document leaves nothing of itself behind', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([
        doc('A', 'alpha abstract text, long enough'),
        doc('B', 'beta abstract text, long enough'),
      ]);
      const special = precision === 'float16' ? SPECIAL_FLOAT16 : SPECIAL_FLOAT32;
      const round = precision === 'float16' ? Math.f16round : Math.fround;
      const w = emb('A', 2, 'h');
      w.embedding.vectors.set(special);
      await store.writeEmbeddings([w]);
      assert.deepEqual(await db.readVector('A', 0), special.slice(0, 4).map(round));
      assert.deepEqual(await db.readVector('A', 1), special.slice(4).map(round));
      // B is fine, C's vectors have another dimension: the database refuses C and none of the batch lands.
      await assert.rejects(store.writeEmbeddings([emb('B', 3, 'h'), emb('C', 2, 'h', 8)]));
      assert.deepEqual(
        (await store.embeddingStates(['B', 'C'])).map((s) => [s.tokenRows, s.ledger]),
        [
          [0, null],
          [0, null],
        ],
      );
      assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 2);
      // rewriting A replaces its rows: nothing left of the longer old set
      await store.writeEmbeddings([emb('A', 5, 'h2')]);
      await store.writeEmbeddings([emb('A', 1, 'h3')]);
      const [a] = await store.embeddingStates(['A']);
      assert.deepEqual([a!.tokenRows, a!.ledger!.contentHash, a!.ledger!.tokenCount], [1, 'h3', 1]);
      assert.equal((await store.counts()).tokenRows, 1);
      await store.deleteEmbeddings(['A', 'B', 'NOPE']);
      const [gone] = await store.embeddingStates(['A']);
      assert.deepEqual([gone!.tokenRows, gone!.ledger], [0, null]);
      // an inconsistent write is refused before it reaches the database
      await assert.rejects(
        store.writeEmbeddings([
          { ...emb('A', 2, 'h'), ledger: { ...emb('A', 2, 'h').ledger, tokenCount: 3 } },
        ]),
        /ledger says 3x4/,
      );
    });

    it('dimension checks: the database itself refuses vectors of another dimension', async (_db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([doc('A', 'an abstract that is long enough')]);
      const e = await store.writeEmbeddings([emb('A', 2, 'h', 8)]).then(
        () => null,
        (x: unknown) => x as Error,
      );
      assert.ok(e, 'a self-consistent write of dimension 8 into a dimension-4 schema must fail');
      assert.match(
        String(e.message) + JSON.stringify((e as { odbcErrors?: unknown }).odbcErrors ?? ''),
        /check constraint|dimensions/i,
      );
      assert.equal(store.isTransient(e), false);
      assert.deepEqual((await store.embeddingStates(['A']))[0]!.ledger, null);
      assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
    });

    it('two writers at once: every document ends with one whole set from one writer, never a mix', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      const other = await db.openAnother();
      const ids = Array.from({ length: 24 }, (_, i) => `D${String(i).padStart(2, '0')}`);
      await store.upsertDocuments(ids.map((id) => doc(id, `abstract of ${id}, long enough to be real`)));
      const writer = async (s: Store, n: number, tag: string, order: string[]) => {
        for (let round = 0; round < 4; round++)
          for (let i = 0; i < order.length; i += 8)
            await retrying(s, () =>
              s.writeEmbeddings(order.slice(i, i + 8).map((id) => emb(id, n, `${tag}${round}`, DIM, n))),
            );
      };
      await Promise.all([
        writer(store, 3, 'a', ids),
        writer(other, 5, 'b', [...ids].reverse()),
        retrying(other, () => other.deleteEmbeddings(ids.slice(0, 4))),
      ]);
      const states = await store.embeddingStates(ids);
      for (const s of states) {
        if (!s.ledger) {
          assert.equal(s.tokenRows, 0, `${s.docId}: token rows without a ledger row`);
          continue;
        }
        assert.equal(
          s.tokenRows,
          s.ledger.tokenCount,
          `${s.docId}: ${s.tokenRows} rows, ledger says ${s.ledger.tokenCount}`,
        );
        assert.equal(s.ledger.tokenCount, s.ledger.contentHash.startsWith('a') ? 3 : 5, s.docId);
        // the rows are the writer's own: its vectors start at n
        assert.equal((await db.readVector(s.docId, 0))[0], s.ledger.tokenCount);
      }
      assert.ok(states.filter((s) => s.ledger).length >= 20);
    });

    it("drift by anyone's SQL on the token table is found: a row deleted from the middle, one added, a doc_id changed, a truncation", async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments(['A', 'B', 'C'].map((id) => doc(id, `an abstract of ${id} long enough`)));
      await store.writeEmbeddings(['A', 'B', 'C'].map((id) => emb(id, 5, 'h')));
      // The SQL stores that keep per-document counts must be reading them here (the path under test).
      if (store instanceof SqlStore && store.sql.countsTable)
        assert.equal(await store.client.withSession((s) => store.sql.countsKept(s)), true);
      const state = async (id: string) => {
        const [s] = await store.embeddingStates([id]);
        return [s!.tokenRows, s!.firstIndex, s!.lastIndex];
      };
      assert.deepEqual(await state('A'), [5, 0, 4]);
      await db.deleteTokenRow('A', 2);
      assert.deepEqual(await state('A'), [4, 0, 4]);
      await db.copyTokenRow('B', 1, 5);
      assert.deepEqual(await state('B'), [6, 0, 5]);
      await db.moveTokenRow('C', 4, 'Z'); // C loses its last row; Z, no document, gets one
      assert.deepEqual(await state('C'), [4, 0, 3]);
      assert.deepEqual(await state('Z'), [1, 4, 4]);
      const c = await store.counts();
      assert.deepEqual([c.tokenRows, c.documentsWithTokens, c.orphanDocIds], [15, 4, ['Z']]);
      // Our own rewrite of a document puts its rows (and any count kept of them) right.
      await store.writeEmbeddings([emb('A', 5, 'h')]);
      assert.deepEqual(await state('A'), [5, 0, 4]);
      await db.truncateTokens();
      const t = await store.counts();
      assert.deepEqual([t.tokenRows, t.documentsWithTokens, t.orphanDocIds], [0, 0, []]);
      assert.deepEqual(await state('A'), [0, undefined, undefined]);
      await store.writeEmbeddings([emb('A', 3, 'h')]);
      assert.deepEqual(await state('A'), [3, 0, 2]);
      assert.equal((await store.counts()).tokenRows, 3);
      assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
    });

    it('the ledger: written with the tokens, read back exactly, removed with them; orphans are found', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([
        doc('A', 'an abstract that is long enough'),
        doc('B', 'another abstract that is long enough'),
      ]);
      const w = emb('A', 2, 'h');
      w.ledger = {
        ...w.ledger,
        modelFingerprint: 'sha256:0123abcd',
        contentHash: contentHash('x'),
        embeddedAt: '2026-05-01T12:34:56.789Z',
      };
      await store.writeEmbeddings([w]);
      const [a] = await store.embeddingStates(['A']);
      assert.deepEqual(a!.ledger, {
        modelFingerprint: 'sha256:0123abcd',
        contentHash: contentHash('x'),
        tokenCount: 2,
        dimension: DIM,
        embeddedAt: '2026-05-01T12:34:56.789Z',
      });
      // the same document twice in one batch: the last write wins, as if they ran one after the other
      await store.writeEmbeddings([emb('B', 2, 'first'), emb('B', 4, 'second')]);
      const [b] = await store.embeddingStates(['B']);
      assert.deepEqual([b!.tokenRows, b!.ledger!.contentHash], [4, 'second']);
      // a document deleted behind our back leaves orphans; deleting its embeddings clears them
      await db.deleteRow('docs', 'A');
      assert.deepEqual((await store.counts()).orphanDocIds, ['A']);
      await store.deleteEmbeddings(['A']);
      assert.deepEqual((await store.counts()).orphanDocIds, []);
    });

    it('an abstract changed out of band clears the content hash; readTexts hashes it again; our own writes keep it', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([
        doc('A', 'first version of the abstract'),
        doc('B', 'b abstract, untouched'),
      ]);
      await db.setColumn('A', 'abstract', 'second version of the abstract');
      assert.deepEqual(
        (await store.embeddingStates(['A', 'B'])).map((s) => s.contentHash),
        [null, contentHash('b abstract, untouched')],
      );
      const texts = await store.readTexts(['B', 'A', 'NOPE']);
      assert.deepEqual(texts, [
        { docId: 'B', text: 'b abstract, untouched', contentHash: contentHash('b abstract, untouched') },
        {
          docId: 'A',
          text: 'second version of the abstract',
          contentHash: contentHash('second version of the abstract'),
        },
      ]);
      assert.equal(
        (await store.embeddingStates(['A']))[0]!.contentHash,
        contentHash('second version of the abstract'),
      );
      // our own upsert sets the hash with the text, and the same text again keeps it
      await store.upsertDocuments([doc('A', 'third version of the abstract')]);
      await store.upsertDocuments([doc('A', 'third version of the abstract')]);
      assert.equal(
        (await store.embeddingStates(['A']))[0]!.contentHash,
        contentHash('third version of the abstract'),
      );
      // a change to another column is not a content change
      await db.setColumn('A', 'title', 'new title');
      assert.equal(
        (await store.embeddingStates(['A']))[0]!.contentHash,
        contentHash('third version of the abstract'),
      );
      if (store instanceof SqlStore) {
        // a hash computed from a text that has changed again since it was read is not stored
        await db.setColumn('A', 'abstract', 'fourth version of the abstract');
        const third = 'third version of the abstract';
        await store.client.withSession((s) =>
          s.query(store.sql.fillContentHash(), [contentHash(third), 'A', third]),
        );
        assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, null);
        assert.equal(
          (await store.readTexts(['A']))[0]!.contentHash,
          contentHash('fourth version of the abstract'),
        );
      }
    });

    it('the hash refill is NULL-safe: an abstract set to NULL out of band is hashed and stored; changed again, it is not', async (db, store) => {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([
        doc('A', 'an abstract that will be nulled'),
        doc('B', 'b abstract, kept'),
      ]);
      await db.setColumn('A', 'abstract', null);
      assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, null);
      assert.deepEqual(await store.readTexts(['A']), [
        { docId: 'A', text: '', contentHash: contentHash('') },
      ]);
      // the refill matched the NULL it read (abstract = NULL would match nothing and leave the hash unset)
      assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, contentHash(''));
      if (store instanceof SqlStore) {
        // a NULL read, but a text there by the time the hash is stored: the hash stays unset
        await db.setColumn('A', 'abstract', 'text again');
        assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, null);
        await store.client.withSession((s) =>
          s.query(store.sql.fillContentHash({ nullAbstract: true }), [contentHash(''), 'A']),
        );
        assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, null);
        // and a text read, but NULL by then: unset too
        await db.setColumn('B', 'abstract', null);
        await store.client.withSession((s) =>
          s.query(store.sql.fillContentHash(), [contentHash('b abstract, kept'), 'B', 'b abstract, kept']),
        );
        assert.equal((await store.embeddingStates(['B']))[0]!.contentHash, null);
      }
    });

    it(
      'custom schema and table names',
      async (db, store) => {
        await store.createSchema({ dimension: DIM });
        await store.upsertDocuments([doc('A', 'an abstract that is long enough')]);
        await store.writeEmbeddings([emb('A', 2, 'h')]);
        assert.equal((await db.rowIds('docs')).length, 1);
        assert.equal((await db.rowIds('tokens')).length, 2);
        assert.equal((await db.rowIds('ledger')).length, 1);
        assert.deepEqual(await store.checkSchema({ dimension: DIM }), {
          ok: true,
          empty: false,
          problems: [],
        });
        assert.equal((await store.counts()).tokenRows, 2);
      },
      { schema: 'EVAL', tables: { sourceDocuments: 'Docs', tokenEmbeddings: 'Toks', ledger: 'Led' } },
    );

    if (precision === 'float16')
      it('precision: a table of the other precision is a schema problem whose DDL recreates it; no mixed encodings', async (db, store) => {
        await store.createSchema({ dimension: DIM });
        await store.upsertDocuments([doc('A', 'an abstract that is long enough')]);
        await store.writeEmbeddings([emb('A', 2, 'h')]);
        const wide = await db.openAnother({ vectorPrecision: 'float32' });
        const mismatch = async (s: Store, live: string, declared: string) => {
          const r = await s.checkSchema({ dimension: DIM });
          assert.equal(r.ok, false);
          assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
          const [p] = r.problems;
          assert.equal(p!.object, 'RAG.DocumentTokenEmbeddings.token_embedding');
          assert.match(
            p!.problem,
            new RegExp(`stores ${live} vectors.*database.vectorPrecision is ${declared}`),
          );
          assert.equal(p!.liveDimension, undefined); // not a dimension to rebuild: the precision differs
          return p!.fix;
        };
        // A float16 table of dimension 4 has the byte length of a float32 one of dimension 2: still found.
        await db.runFix(await mismatch(wide, 'float16', 'float32'));
        assert.deepEqual(await wide.checkSchema({ dimension: DIM }), {
          ok: true,
          empty: false,
          problems: [],
        });
        assert.deepEqual(
          (await wide.embeddingStates(['A'])).map((e) => [e.tokenRows, e.ledger]),
          [[0, null]],
        );
        await wide.writeEmbeddings([emb('A', 2, 'h', DIM, 0.1)]);
        assert.deepEqual(await wide.badVectors(['A']), new Map());
        // ... and back: the float16 store sees the float32 table and recreates it as float16.
        await db.runFix(await mismatch(store, 'float32', 'float16'));
        assert.deepEqual(await store.checkSchema({ dimension: DIM }), {
          ok: true,
          empty: false,
          problems: [],
        });
        await store.writeEmbeddings([emb('A', 2, 'h', DIM, 0.1)]);
        assert.deepEqual(await db.readVector('A', 1), [4.1, 5.1, 6.1, 7.1].map(Math.f16round));
        // A float that float16 cannot hold is refused before it is written (not stored as Infinity).
        const big = emb('A', 1, 'h2');
        big.embedding.vectors[0] = 70000;
        await assert.rejects(store.writeEmbeddings([big]), /out of float16's range/);
        assert.equal((await store.embeddingStates(['A']))[0]!.ledger!.contentHash, 'h');
      });

    it('description names the database without its password', async (_db, store) => {
      assert.ok(store.description.length > 0);
      const url = process.env.DATASTATE_TEST_PG_URL;
      const password = url ? decodeURIComponent(new URL(url).password) : '';
      if (backend === 'postgres') assert.match(store.description, /^postgres:\/\/[^:]+:\*\*\*@/);
      if (backend === 'odbc+postgres') assert.match(store.description, /^odbc\+postgres:.*Pwd=\*\*\*/);
      if (password && backend.includes('postgres'))
        assert.ok(
          !store.description.includes(`:${password}@`) &&
            !new RegExp(`pwd=${password}`, 'i').test(store.description),
          store.description,
        );
    });
  });
}
