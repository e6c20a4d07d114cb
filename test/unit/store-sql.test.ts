import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toDollarParams } from '../../src/store/sql/params.ts';
import { PgBinaryCopy, float32Bytes, joinFloats } from '../../src/store/sql/vectors.ts';
import { PostgresDialect, isTransientPgError } from '../../src/store/dialects/postgres.ts';
import { SqliteDialect } from '../../src/store/dialects/sqlite.ts';
import { tableNames } from '../../src/store/sql/dialect.ts';

test('? markers become $n outside strings, identifiers, dollar quotes and comments', () => {
  assert.equal(toDollarParams('SELECT ? , ?'), 'SELECT $1 , $2');
  assert.equal(
    toDollarParams(`SELECT '?', "a?b", ? -- why?\n, ? /* ? */, $$ ? $$, $x$ ? $x$, ?`),
    `SELECT '?', "a?b", $1 -- why?\n, $2 /* ? */, $$ ? $$, $x$ ? $x$, $3`,
  );
  assert.equal(toDollarParams(`SELECT 'it''s ?', ?`), `SELECT 'it''s ?', $1`);
});

test('vector text is exact: every float32 reads back as itself', () => {
  const v = new Float32Array(4096);
  let x = 12345;
  for (let i = 0; i < v.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    v[i] = ((x / 2 ** 32) * 2 - 1) * 10 ** ((i % 20) - 10);
  }
  v.set([0, 1.401298464324817e-45, 3.4028234663852886e38, -1.1754943508222875e-38]);
  const parsed = joinFloats(v, 0, v.length)
    .split(',')
    .map((s) => Math.fround(Number(s)));
  assert.deepEqual(parsed, [...v]);
  assert.equal(joinFloats(new Float32Array([1, 2, 3, 4]), 1, 2), '2,3');
  assert.deepEqual(
    [...float32Bytes(new Float32Array([1, 2, 3]), 1, 2)],
    [...new Uint8Array(new Float32Array([2, 3]).buffer)],
  );
});

test('binary COPY stream: header, one row of each vector type, trailer', () => {
  for (const type of ['real[]', 'vector', 'halfvec'] as const) {
    const c = new PgBinaryCopy(type, 64); // a small chunk size, so rows span chunks
    c.row(c.encodeId('PMC1'), 7, 'tök', new Float32Array([9, 1.5, -2, 9]), 1, 2);
    c.row(c.encodeId('PMC1'), 8, '', new Float32Array([0.25, 4]), 0, 2);
    const chunks = c.finish();
    const all = Buffer.concat(chunks);
    assert.equal(all.length, c.bytes);
    assert.deepEqual([...all.subarray(0, 11)], [...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')]);
    let p = 19;
    const readField = () => {
      const n = all.readInt32BE(p);
      const f = all.subarray(p + 4, p + 4 + n);
      p += 4 + n;
      return f;
    };
    for (const [index, text, floats] of [
      [7, 'tök', [1.5, -2]],
      [8, '', [0.25, 4]],
    ] as const) {
      assert.equal(all.readInt16BE(p), 4);
      p += 2;
      assert.equal(readField().toString(), 'PMC1');
      assert.equal(readField().readInt32BE(0), index);
      assert.equal(readField().toString(), text);
      const v = readField();
      if (type === 'vector') {
        assert.deepEqual(
          [v.readInt16BE(0), v.readInt16BE(2), v.readFloatBE(4), v.readFloatBE(8)],
          [2, 0, ...floats],
        );
      } else if (type === 'halfvec') {
        // pgvector's halfvec_recv: dim, unused, then IEEE halves in network order (1.5 0x3e00, -2 0xc000, ...)
        const half = { 1.5: 0x3e00, [-2]: 0xc000, 0.25: 0x3400, 4: 0x4400 } as Record<number, number>;
        assert.deepEqual(
          [v.length, v.readInt16BE(0), v.readInt16BE(2), v.readUInt16BE(4), v.readUInt16BE(6)],
          [8, 2, 0, half[floats[0]], half[floats[1]]],
        );
      } else {
        // ndim, has-null, element type float4 (700), length, lower bound, then (length, value) per element
        assert.deepEqual(
          [0, 4, 8, 12, 16].map((o) => v.readInt32BE(o)),
          [1, 0, 700, 2, 1],
        );
        assert.deepEqual(
          [v.readInt32BE(20), v.readFloatBE(24), v.readInt32BE(28), v.readFloatBE(32)],
          [4, floats[0], 4, floats[1]],
        );
      }
    }
    assert.equal(all.readInt16BE(p), -1);
    assert.equal(p + 2, all.length);
  }
});

test('PostgreSQL SQL: JSON id lists, ON CONFLICT upserts, typed vector casts, binary COPY', () => {
  const d = new PostgresDialect(tableNames({}), { vectorType: 'vector' });
  assert.deepEqual(d.idFilter('doc_id', ['a', 'b"c']), {
    sql: 'doc_id IN (SELECT value FROM json_array_elements_text(CAST(? AS json)))',
    params: ['["a","b\\"c"]'],
  });
  assert.equal(
    d.insertTokens(2),
    'INSERT INTO "RAG"."DocumentTokenEmbeddings" (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, CAST(? AS vector)), (?, ?, ?, CAST(? AS vector))',
  );
  assert.deepEqual(
    d.tokenParams({ docId: 'A', tokens: ['x'], vectors: new Float32Array([0.5, 2]), dimension: 2 }, 0),
    ['A', 0, 'x', '[0.5,2]'],
  );
  assert.equal(
    d.copyTokens(),
    'COPY "RAG"."DocumentTokenEmbeddings" (doc_id, token_index, token_text, token_embedding) FROM STDIN (FORMAT binary)',
  );
  const a = new PostgresDialect(tableNames({}), { vectorType: 'real[]' });
  assert.deepEqual(
    a.tokenParams({ docId: 'A', tokens: ['x'], vectors: new Float32Array([0.5, 2]), dimension: 2 }, 0),
    ['A', 0, 'x', '{0.5,2}'],
  );
  assert.match(
    a.schemaObjects({ dimension: 768 }).find((o) => o.object === 'RAG.DocumentTokenEmbeddings')!.sql,
    /token_embedding real\[\] NOT NULL CONSTRAINT "DocumentTokenEmbeddings_dimension" CHECK \(array_ndims\(token_embedding\) = 1 AND cardinality\(token_embedding\) = 768\)/,
  );
  assert.match(
    d.schemaObjects({ dimension: 768 }).find((o) => o.object === 'RAG.DocumentTokenEmbeddings')!.sql,
    /token_embedding vector\(768\) NOT NULL, PRIMARY KEY \(doc_id, token_index\)\)$/,
  );
  // real[] skips TOAST's compression attempts (vector is EXTERNAL by itself)
  assert.deepEqual(
    a
      .schemaObjects({ dimension: 768 })
      .find((o) => o.object === 'RAG.DocumentTokenEmbeddings')!
      .statements.slice(1),
    ['ALTER TABLE "RAG"."DocumentTokenEmbeddings" ALTER COLUMN token_embedding SET STORAGE EXTERNAL'],
  );
  assert.equal(
    d
      .upsertLedger()
      .includes('ON CONFLICT (doc_id) DO UPDATE SET model_fingerprint = EXCLUDED.model_fingerprint'),
    true,
  );
});

test('PostgreSQL transient errors: deadlocks, serialization failures, lock timeouts, lost connections', () => {
  for (const code of ['40001', '40P01', '55P03', '57P01', '53300', '08006'])
    assert.equal(isTransientPgError({ code, message: 'x' }), true, code);
  for (const code of ['23505', '23514', '42P01', '22000'])
    assert.equal(isTransientPgError({ code, message: 'x' }), false, code);
  assert.equal(isTransientPgError(new Error('Connection terminated unexpectedly')), true);
  assert.equal(
    isTransientPgError({
      message: '[odbc] x',
      odbcErrors: [{ state: '40P01', message: 'ERROR: deadlock detected' }],
    }),
    true,
  );
  assert.equal(
    isTransientPgError({ message: '[odbc] x', odbcErrors: [{ state: '23505', message: 'duplicate key' }] }),
    false,
  );
});

test('SQLite SQL over ODBC: json_each id lists, multi-row INSERTs of float32 BLOBs', () => {
  const d = new SqliteDialect(tableNames({}));
  assert.deepEqual(d.idFilter('doc_id', ['a']), {
    sql: 'doc_id IN (SELECT value FROM json_each(?))',
    params: ['["a"]'],
  });
  assert.equal(
    d.insertTokens(2),
    'INSERT INTO "RAG"."DocumentTokenEmbeddings" (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, ?), (?, ?, ?, ?)',
  );
  const p = d.tokenParams(
    { docId: 'A', tokens: ['x', 'y'], vectors: new Float32Array([1, 2, 3, 4]), dimension: 2 },
    1,
  );
  assert.deepEqual(p.slice(0, 3), ['A', 1, 'y']);
  assert.deepEqual([...new Float32Array((p[3] as Uint8Array).slice().buffer)], [3, 4]);
});
