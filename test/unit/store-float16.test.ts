/**
 * float16 vectors (database.vectorPrecision): the half-float encoding against known IEEE 754 bit patterns
 * (round to nearest, ties to even; subnormals; Infinity and NaN), the decoding of stored bytes, and the DDL and
 * refusals of each dialect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLOAT16_MAX, decodeVector, float16Bytes, vectorBytes } from '../../src/store/sql/vectors.ts';
import { tableNames } from '../../src/store/sql/dialect.ts';
import { SqliteDialect, sqliteSchemaObjects, sqliteTablePrecision } from '../../src/store/dialects/sqlite.ts';
import { PostgresDialect } from '../../src/store/dialects/postgres.ts';
import { IrisDialect } from '../../src/store/dialects/iris.ts';
import { StoreConfigError } from '../../src/store/errors.ts';
import { parseSpec } from '../../src/api/validate.ts';

/** The little-endian 16-bit words of float16Bytes of these floats. */
function halves(xs: number[]): number[] {
  const b = float16Bytes(new Float32Array(xs), 0, xs.length);
  return Array.from({ length: xs.length }, (_, i) => b[2 * i]! | (b[2 * i + 1]! << 8));
}

test('float16 encoding: IEEE 754 half bit patterns, ties to even, subnormals, Infinity and NaN', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66], // 0.0999755859375
    [-0, 0x8000],
    [FLOAT16_MAX, 0x7bff],
    [65519, 0x7bff], // below the midpoint to 65536: rounds down to the largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even (0)
    [2 ** -25 * (1 + 2 ** -23), 0x0001], // just above halfway: up
    [3 * 2 ** -25, 0x0002], // halfway between 0x0001 and 0x0002: ties to even (0x0002)
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: ties to even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: ties to even (0x3c02)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above halfway: up
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  assert.deepEqual(
    halves(cases.map((c) => c[0])).map((h) => h.toString(16)),
    cases.map((c) => c[1].toString(16)),
  );
  const [nan] = halves([NaN]);
  assert.equal(nan! & 0x7c00, 0x7c00, 'NaN: exponent all ones');
  assert.notEqual(nan! & 0x03ff, 0, 'NaN: a non-zero mantissa');
  // a slice of a longer vector; float32 bytes unchanged
  assert.deepEqual(halves([5, 1, -2, 5].slice(1, 3)), [0x3c00, 0xc000]);
  assert.equal(vectorBytes('float32', new Float32Array([1, 2]), 0, 2).length, 8);
  assert.equal(vectorBytes('float16', new Float32Array([1, 2]), 0, 2).length, 4);
});

test('float16 encoding refuses a finite float beyond +-65504 instead of storing Infinity', () => {
  assert.throws(() => float16Bytes(new Float32Array([0.5, 65520]), 0, 2), /65520 is out of float16's range/);
  assert.throws(() => float16Bytes(new Float32Array([-1e6]), 0, 1), /out of float16's range/);
  assert.equal(float16Bytes(new Float32Array([Infinity]), 0, 1).length, 2); // not finite to start with
});

test('decodeVector reads float16 BLOBs (aligned, unaligned, over ODBC as an ArrayBuffer) and leaves float32 as it was', () => {
  const xs = [0.1, -2.5, 1 / 3, 2 ** -24];
  const want = xs.map(Math.f16round);
  const b = float16Bytes(new Float32Array(xs), 0, xs.length);
  assert.deepEqual(Array.from(decodeVector(b, 'float16')), want);
  const unaligned = new Uint8Array(b.length + 1);
  unaligned.set(b, 1);
  assert.deepEqual(Array.from(decodeVector(unaligned.subarray(1), 'float16')), want);
  assert.deepEqual(Array.from(decodeVector(b.slice().buffer, 'float16')), want);
  const f32 = new Uint8Array(new Float32Array(xs).buffer);
  assert.deepEqual(Array.from(decodeVector(f32)), xs.map(Math.fround));
  // text forms (pgvector's halfvec prints like vector) do not depend on the precision
  assert.deepEqual(Array.from(decodeVector('[0.1,-2.5]', 'float16')), [0.1, -2.5]);
});

test('SQLite DDL: a float16 table checks 2 bytes a float under a named CHECK, which tells the precisions apart', () => {
  const f16 = tableNames({ vectorPrecision: 'float16' });
  const f32 = tableNames({});
  const table = (n: ReturnType<typeof tableNames>) =>
    sqliteSchemaObjects(n, { dimension: 768 }).find((o) => o.name === n.tokens)!.sql;
  assert.match(
    table(f16),
    /token_embedding BLOB NOT NULL CONSTRAINT "DocumentTokenEmbeddings_float16" CHECK \(length\(token_embedding\) = 1536\)/,
  );
  assert.match(table(f32), /token_embedding BLOB NOT NULL CHECK \(length\(token_embedding\) = 3072\)/);
  assert.equal(sqliteTablePrecision(table(f16), f16), 'float16');
  assert.equal(sqliteTablePrecision(table(f32), f16), 'float32');
  // made by hand, quoted otherwise or not at all
  assert.equal(
    sqliteTablePrecision(
      'CREATE TABLE x (v BLOB constraint [DocumentTokenEmbeddings_float16] check (length(v) = 8))',
      f16,
    ),
    'float16',
  );
  const d = new SqliteDialect(f16);
  const [, , , blob] = d.tokenParams(
    { docId: 'A', tokens: ['a', 'b'], vectors: new Float32Array([1, 2, 0.5, -2]), dimension: 2 },
    1,
  );
  assert.deepEqual([...(blob as Uint8Array)], [0x00, 0x38, 0x00, 0xc0]);
});

test('PostgreSQL: float16 is halfvec(n) with pgvector; real[] cannot hold it and is refused; IRIS refuses it', () => {
  const f16 = tableNames({ vectorPrecision: 'float16' });
  const pg = new PostgresDialect(f16, { vectorType: 'vector' });
  // before prepare() the requested vector becomes halfvec only once the live database is seen; the statements:
  pg.vectorType = 'halfvec';
  assert.match(pg.insertTokens(1), /CAST\(\? AS halfvec\)/);
  const table = pg.schemaObjects({ dimension: 768 }).find((o) => o.table === 'tokens')!;
  assert.match(table.sql, /token_embedding halfvec\(768\) NOT NULL/);
  assert.ok(pg.schemaObjects({ dimension: 768 }).some((o) => o.kind === 'extension'));
  assert.deepEqual(
    pg.tokenParams({ docId: 'A', tokens: ['a'], vectors: new Float32Array([0.5, -2]), dimension: 2 }, 0),
    ['A', 0, 'a', '[0.5,-2]'],
  );
  assert.throws(
    () => pg.tokenParams({ docId: 'A', tokens: ['a'], vectors: new Float32Array([1e5, 0]), dimension: 2 }, 0),
    /out of float16's range/,
  );
  assert.throws(
    () => new PostgresDialect(f16, { vectorType: 'real[]' }),
    (e: unknown) => e instanceof StoreConfigError && /needs pgvector/.test(e.message),
  );
  assert.throws(
    () => new IrisDialect(f16),
    (e: unknown) => e instanceof StoreConfigError && /not supported on IRIS/.test(e.message),
  );
});

test('the spec: database.vectorPrecision defaults to float32, takes float16, refuses others and float16 on IRIS', () => {
  assert.equal(parseSpec({ docCount: 1 }).database.vectorPrecision, 'float32');
  assert.equal(
    parseSpec({ docCount: 1, database: { vectorPrecision: 'float16' } }).database.vectorPrecision,
    'float16',
  );
  assert.throws(
    () => parseSpec({ docCount: 1, database: { vectorPrecision: 'bfloat16' } }),
    /vectorPrecision/,
  );
  assert.throws(
    () => parseSpec({ docCount: 1, database: { dialect: 'iris', vectorPrecision: 'float16' } }),
    /database.vectorPrecision: float16 is not supported on IRIS/,
  );
});
