/**
 * The Store on a SQL database reached through a driver (pg, PGlite, ODBC), in one of the SQL dialects
 * (src/store/dialects). The statements come from the dialect; this class binds them, splits long id lists,
 * runs each write in one transaction and turns rows into the port's types.
 *
 * Writers of the same document wait for each other: writeEmbeddings upserts the ledger row first (a row
 * lock held to commit), in doc_id order (so two batches never lock in opposite orders), then replaces the
 * token rows. Inspection reads ids, counts and short texts only, never vectors.
 */
import type {
  Candidate,
  DocumentText,
  DocumentWrite,
  EmbeddingState,
  EmbeddingWrite,
  SchemaExpectation,
  SchemaReport,
  Store,
  StoreCounts,
} from '../core/store-port.ts';
import { checkWrite } from '../core/store-port.ts';
import type { LedgerEntry } from '../core/types.ts';
import { isBadVector } from '../core/inspection.ts';
import { contentHash } from './content-hash.ts';
import { decodeVector } from './sql/vectors.ts';
import type { Row, SqlClient, SqlSession } from './sql/client.ts';
import { documentParams, type SqlDialect } from './sql/dialect.ts';

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

const decoder = new TextDecoder();

/** A text column as a string: drivers hand long text (streams) back as bytes now and then. */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (v instanceof ArrayBuffer) return decoder.decode(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return decoder.decode(v as Uint8Array);
  return String(v);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Documents whose vectors one query of badVectors reads. */
const VECTOR_READ_DOCS = 16;

export class SqlStore implements Store {
  readonly dialect: string;
  readonly description: string;
  readonly sql: SqlDialect;
  readonly client: SqlClient;
  private prepared: Promise<void> | null = null;

  constructor(dialect: SqlDialect, client: SqlClient) {
    this.sql = dialect;
    this.client = client;
    this.dialect = dialect.name;
    this.description = client.description;
  }

  private ready(): Promise<void> {
    this.prepared ??= this.sql.prepare(this.client).catch((e: unknown) => {
      this.prepared = null;
      throw e;
    });
    return this.prepared;
  }

  /**
   * Runs fn for each chunk of ids (the dialect's idChunk) and concatenates the rows. `table` says whose doc id
   * column the ids are matched in (the source and token tables' are mapped; the ledger's is doc_id).
   */
  private async byChunks(
    s: SqlSession,
    ids: readonly string[],
    table: 'docs' | 'tokens' | 'ledger' | 'counts',
    build: (f: ReturnType<SqlDialect['idFilter']>) => string,
  ): Promise<Row[]> {
    const out: Row[] = [];
    const column = table === 'ledger' ? 'doc_id' : table === 'counts' ? 'k.doc_id' : this.sql.c[table].docId;
    for (const chunk of chunks([...new Set(ids)], this.sql.idChunk)) {
      const f = this.sql.idFilter(column, chunk);
      out.push(...(await s.query(build(f), f.params)));
    }
    return out;
  }

  // ---- schema -------------------------------------------------------------------------------------------

  async checkSchema(expect: SchemaExpectation): Promise<SchemaReport> {
    await this.ready();
    return this.sql.checkSchema(this.client, expect);
  }

  async createSchema(expect: SchemaExpectation): Promise<void> {
    await this.ready();
    await this.sql.createSchema(this.client, expect);
  }

  // ---- inspection ---------------------------------------------------------------------------------------

  async counts(): Promise<StoreCounts> {
    await this.ready();
    return this.client.withSession(async (s) => {
      const kept = await this.sql.countsKept(s);
      const [d] = await s.query(this.sql.countDocuments());
      const [e] = await s.query(this.sql.countTokens(kept));
      const orphans = (await s.query(this.sql.orphans(kept))).map((r) => text(r.doc_id)!).sort(compareIds);
      return {
        documents: num(d?.documents),
        documentsWithAbstract: num(d?.with_abstract),
        documentsWithTokens: num(e?.docs),
        tokenRows: num(e?.token_rows),
        orphanDocIds: orphans,
      };
    });
  }

  async candidates(): Promise<Candidate[]> {
    await this.ready();
    const rows = await this.client.withSession((s) => s.query(this.sql.candidates()));
    return rows.map((r) => ({
      docId: text(r.doc_id)!,
      pubDate: text(r.pub_date),
      abstractLength: num(r.abstract_length),
      shortAbstract: text(r.short_abstract),
    }));
  }

  async embeddingStates(docIds: readonly string[]): Promise<EmbeddingState[]> {
    if (!docIds.length) return [];
    await this.ready();
    const { hashes, ledger, tokens } = await this.client.withSession(
      async (s): Promise<{ hashes: Row[]; ledger: Row[]; tokens: Row[] }> => {
        const kept = await this.sql.countsKept(s);
        if (!this.sql.joinsEmbeddingStates)
          return {
            hashes: await this.byChunks(s, docIds, 'docs', (f) => this.sql.documentHashes(f)),
            ledger: await this.byChunks(s, docIds, 'ledger', (f) => this.sql.ledgerRows(f)),
            tokens: await this.byChunks(s, docIds, kept ? 'counts' : 'tokens', (f) =>
              this.sql.tokenCounts(f, kept),
            ),
          };
        // The dialect has it all in one statement: split its rows into the three kinds.
        const rows = await this.byChunks(s, docIds, 'docs', (f) => this.sql.embeddingStatesJoined(f, kept));
        return {
          hashes: rows.map((r) => ({ doc_id: r.doc_id, content_hash: r.doc_hash })),
          ledger: rows
            .filter((r) => r.model_fingerprint !== null && r.model_fingerprint !== undefined)
            .map((r) => ({ ...r, content_hash: r.ledger_hash })),
          tokens: rows,
        };
      },
    );
    const hashOf = new Map(hashes.map((r) => [text(r.doc_id)!, text(r.content_hash)]));
    const ledgerOf = new Map(ledger.map((r) => [text(r.doc_id)!, r]));
    const rowsOf = new Map(tokens.map((r) => [text(r.doc_id)!, r]));
    return docIds.map((docId) => {
      const l = ledgerOf.get(docId);
      const entry: Omit<LedgerEntry, 'docId'> | null = l
        ? {
            modelFingerprint: text(l.model_fingerprint)!,
            contentHash: text(l.content_hash)!,
            tokenCount: num(l.token_count),
            dimension: num(l.dimension),
            embeddedAt: text(l.embedded_at)!,
          }
        : null;
      const t = rowsOf.get(docId);
      const state: EmbeddingState = {
        docId,
        contentHash: hashOf.get(docId) ?? null,
        ledger: entry,
        tokenRows: t ? num(t.token_rows) : 0,
      };
      if (t && state.tokenRows > 0) {
        state.firstIndex = num(t.first_index);
        state.lastIndex = num(t.last_index);
      }
      return state;
    });
  }

  async existingDocIds(docIds: readonly string[]): Promise<Set<string>> {
    if (!docIds.length) return new Set();
    await this.ready();
    const rows = await this.client.withSession((s) =>
      this.byChunks(s, docIds, 'docs', (f) => this.sql.existingIds(f)),
    );
    return new Set(rows.map((r) => text(r.doc_id)!));
  }

  async badVectors(docIds: readonly string[]): Promise<Map<string, number>> {
    const bad = new Map<string, number>();
    if (!docIds.length) return bad;
    await this.ready();
    const precision = this.sql.names.vectorPrecision;
    // A few documents per query: the vectors of one group are checked and let go before the next is read.
    await this.client.withSession(async (s) => {
      for (const group of chunks([...new Set(docIds)], VECTOR_READ_DOCS)) {
        const f = this.sql.idFilter(this.sql.c.tokens.docId, group);
        for (const r of await s.query(this.sql.tokenVectors(f), f.params)) {
          if (!isBadVector(decodeVector(r.token_embedding, precision))) continue;
          const id = text(r.doc_id)!;
          bad.set(id, (bad.get(id) ?? 0) + 1);
        }
      }
    });
    return bad;
  }

  // ---- writes -------------------------------------------------------------------------------------------

  async rebuildEmptyTokenTable(expect: SchemaExpectation): Promise<void> {
    await this.ready();
    const problem = (await this.sql.checkSchema(this.client, expect)).problems.find(
      (p) => p.liveDimension !== undefined,
    );
    if (!problem) return;
    await this.client.transaction(async (s) => {
      for (const lock of this.sql.lockTokens()) await s.query(lock);
      const [c] = await s.query(this.sql.countTokens());
      const rows = num(c?.token_rows);
      if (rows > 0)
        throw new Error(
          `${problem.object}: ${problem.problem}; the table holds ${rows} token rows and is not dropped automatically; fix: ${problem.fix}`,
        );
      for (const stmt of problem.fix.split(/;\s+/)) if (stmt.trim()) await s.query(stmt);
    });
  }

  async upsertDocuments(docs: readonly DocumentWrite[]): Promise<void> {
    if (!docs.length) return;
    await this.ready();
    const now = new Date().toISOString();
    const rows = [...docs].sort((a, b) => compareIds(a.docId, b.docId)).map((d) => documentParams(d, now));
    await this.client.transaction((s) => s.executeMany(this.sql.upsertDocument(), rows));
  }

  async readTexts(docIds: readonly string[]): Promise<DocumentText[]> {
    if (!docIds.length) return [];
    await this.ready();
    const rows = await this.client.withSession((s) =>
      this.byChunks(s, docIds, 'docs', (f) => this.sql.texts(f)),
    );
    const byId = new Map(rows.map((r) => [text(r.doc_id)!, r]));
    const out: DocumentText[] = [];
    const fills: [string, string, string][] = [];
    const nullFills: [string, string][] = [];
    for (const docId of new Set(docIds)) {
      const r = byId.get(docId);
      if (!r) continue;
      const read = text(r.abstract);
      const body = read ?? '';
      let hash = text(r.content_hash);
      if (hash === null) {
        // Changed behind our back (the trigger cleared it): hash what is there now, if it is still there.
        hash = contentHash(body);
        if (read === null) nullFills.push([hash, docId]);
        else fills.push([hash, docId, read]);
      }
      out.push({ docId, text: body, contentHash: hash });
    }
    if (fills.length || nullFills.length)
      await this.client.transaction(async (s) => {
        if (fills.length) await s.executeMany(this.sql.fillContentHash(), fills);
        if (nullFills.length)
          await s.executeMany(this.sql.fillContentHash({ nullAbstract: true }), nullFills);
      });
    return out;
  }

  async writeEmbeddings(writes: readonly EmbeddingWrite[]): Promise<void> {
    if (!writes.length) return;
    for (const w of writes) checkWrite(w);
    await this.ready();
    // One write per document (the last one wins, as if they ran in order), in doc_id order.
    const last = new Map<string, EmbeddingWrite>();
    for (const w of writes) last.set(w.embedding.docId, w);
    const sorted = [...last.values()].sort((a, b) => compareIds(a.embedding.docId, b.embedding.docId));
    await this.client.transaction(async (s) => {
      const upsert = this.sql.upsertLedger();
      const del = this.sql.deleteTokensOfDocument();
      // A kept count made wrong by a write the triggers miss (see the dialect's counter) is right again after this.
      const reset = (await this.sql.countsKept(s)) ? this.sql.resetTokenCount() : null;
      for (const { ledger: l } of sorted) {
        await s.query(upsert, [
          l.docId,
          l.modelFingerprint,
          l.contentHash,
          l.tokenCount,
          l.dimension,
          l.embeddedAt,
        ]);
        await s.query(del, [l.docId]);
        if (reset) await s.query(reset, [l.docId]);
      }
      await this.sql.writeTokens(
        s,
        sorted.map((w) => w.embedding),
      );
    });
  }

  async deleteEmbeddings(docIds: readonly string[]): Promise<void> {
    if (!docIds.length) return;
    await this.ready();
    const ids = [...new Set(docIds)].sort(compareIds);
    await this.client.transaction(async (s) => {
      await this.byChunks(s, ids, 'ledger', (f) => this.sql.deleteLedger(f));
      await this.byChunks(s, ids, 'tokens', (f) => this.sql.deleteTokens(f));
    });
  }

  isTransient(error: unknown): boolean {
    return this.sql.isTransient(error);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
