/**
 * Vectors on the wire. Text forms print each float32 with 9 significant digits (trailing zeros dropped), always enough for
 * the server's float4/FLOAT parse to give back the very same float32 (and ~35% shorter, ~2x faster to make
 * than JavaScript's shortest form of the double), with an upper-case exponent (IRIS may be configured to
 * accept only `E`).
 */

/** `a,b,c` for floats [start, start + dim) of v. */
export function joinFloats(v: Float32Array, start: number, dim: number): string {
  let s = '';
  for (let i = 0; i < dim; i++) {
    if (i) s += ',';
    s += float9(v[start + i]!);
  }
  return s;
}

/** 9 significant digits without trailing zeros: 0.5, 2, 0.333333343, 3.49999993E-8. */
function float9(x: number): string {
  const t = x.toPrecision(9);
  const e = t.indexOf('e');
  if (e < 0) return t.charCodeAt(t.length - 1) === 48 && t.includes('.') ? t.replace(/\.?0+$/, '') : t;
  const m = t.slice(0, e);
  return `${m.includes('.') ? m.replace(/\.?0+$/, '') : m}E${t.slice(e + 1)}`;
}

/** Little-endian float32 bytes of one vector (a view, no copy). */
export function float32Bytes(v: Float32Array, start: number, dim: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset + start * 4, dim * 4);
}

/**
 * How the token table stores each float (spec database.vectorPrecision): float32 (4 bytes, exact) or float16
 * (IEEE 754 half, 2 bytes: ~3 significant digits, range +-65504; round to nearest, ties to even).
 */
export type VectorPrecision = 'float32' | 'float16';
export const VECTOR_PRECISIONS = ['float32', 'float16'] as const;

/** Bytes one stored float takes. */
export function bytesPerFloat(p: VectorPrecision): number {
  return p === 'float16' ? 2 : 4;
}

/**
 * Little-endian float16 bytes of one vector (a copy). Float16Array (ES2025, Node 24) converts with IEEE
 * round-to-nearest-even, keeps subnormals, turns overflow into +-Infinity and keeps NaN.
 */
export function float16Bytes(v: Float32Array, start: number, dim: number): Uint8Array {
  const h = Float16Array.from(v.subarray(start, start + dim));
  for (let i = 0; i < dim; i++) if (h[i] === Infinity || h[i] === -Infinity) checkHalfRange(v[start + i]!);
  return new Uint8Array(h.buffer, 0, dim * 2);
}

/** The largest finite float16 (values from 65520 up round to Infinity). */
export const FLOAT16_MAX = 65504;

/**
 * Refuses a finite float that float16 cannot hold (it would become Infinity, which the bad-vector check then
 * flags on every pass): such a model's vectors (unnormalized, large) need database.vectorPrecision: float32.
 */
export function checkHalfRange(x: number): void {
  if (Number.isFinite(x) && !Number.isFinite(Math.f16round(x)))
    throw new RangeError(
      `vector value ${x} is out of float16's range (+-${FLOAT16_MAX}): store these vectors with database.vectorPrecision: float32`,
    );
}

/** The stored bytes of one vector at this precision (little-endian, as SQLite's BLOB holds them). */
export function vectorBytes(p: VectorPrecision, v: Float32Array, start: number, dim: number): Uint8Array {
  return p === 'float16' ? float16Bytes(v, start, dim) : float32Bytes(v, start, dim);
}

/**
 * PostgreSQL binary COPY of token rows (doc_id text, token_index int4, token_text text, token_embedding
 * real[] | vector | halfvec). See the COPY binary file format and pgvector's vector_recv and halfvec_recv.
 */
export type PgCopyVectorType = 'real[]' | 'vector' | 'halfvec';

export class PgBinaryCopy {
  private static readonly HEADER = Uint8Array.from([
    0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
  ]);
  private readonly enc = new TextEncoder();
  private readonly chunks: Uint8Array[] = [PgBinaryCopy.HEADER];
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  bytes = PgBinaryCopy.HEADER.length;

  private readonly vectorType: PgCopyVectorType;
  private readonly chunkSize: number;

  constructor(vectorType: PgCopyVectorType, chunkSize = 1 << 20) {
    this.vectorType = vectorType;
    this.chunkSize = chunkSize;
    this.buf = new Uint8Array(chunkSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(n);
      this.view = new DataView(this.buf.buffer);
    }
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.bytes += this.pos;
    this.buf = new Uint8Array(Math.max(this.chunkSize, this.buf.length));
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  row(
    docId: Uint8Array,
    tokenIndex: number,
    tokenText: string,
    v: Float32Array,
    start: number,
    dim: number,
  ): void {
    const text = this.enc.encode(tokenText);
    const vecBytes =
      this.vectorType === 'vector' ? 4 + 4 * dim : this.vectorType === 'halfvec' ? 4 + 2 * dim : 20 + 8 * dim;
    this.ensure(2 + 4 + docId.length + 8 + 4 + text.length + 4 + vecBytes);
    const d = this.view;
    let p = this.pos;
    d.setInt16(p, 4);
    p += 2;
    d.setInt32(p, docId.length);
    this.buf.set(docId, p + 4);
    p += 4 + docId.length;
    d.setInt32(p, 4);
    d.setInt32(p + 4, tokenIndex);
    p += 8;
    d.setInt32(p, text.length);
    this.buf.set(text, p + 4);
    p += 4 + text.length;
    d.setInt32(p, vecBytes);
    p += 4;
    if (this.vectorType === 'vector') {
      d.setInt16(p, dim);
      d.setInt16(p + 2, 0);
      p += 4;
      for (let i = 0; i < dim; i++, p += 4) d.setFloat32(p, v[start + i]!);
    } else if (this.vectorType === 'halfvec') {
      // pgvector's halfvec_recv: int16 dim, int16 unused, then dim halves in network order.
      d.setInt16(p, dim);
      d.setInt16(p + 2, 0);
      p += 4;
      for (let i = 0; i < dim; i++, p += 2) {
        const x = v[start + i]!;
        checkHalfRange(x);
        d.setFloat16(p, x);
      }
    } else {
      d.setInt32(p, 1); // ndim
      d.setInt32(p + 4, 0); // no nulls
      d.setInt32(p + 8, 700); // float4
      d.setInt32(p + 12, dim);
      d.setInt32(p + 16, 1); // lower bound
      p += 20;
      for (let i = 0; i < dim; i++, p += 8) {
        d.setInt32(p, 4);
        d.setFloat32(p + 4, v[start + i]!);
      }
    }
    this.pos = p;
  }

  /** The whole COPY stream, trailer included. */
  finish(): Uint8Array[] {
    this.ensure(2);
    this.view.setInt16(this.pos, -1);
    this.pos += 2;
    this.flush();
    return this.chunks;
  }

  encodeId(id: string): Uint8Array {
    return this.enc.encode(id);
  }
}

/**
 * A stored vector as numbers, whatever the driver hands back: little-endian bytes of `precision` floats
 * (SQLite's BLOB, as a Uint8Array or, over ODBC, an ArrayBuffer), an array (PostgreSQL real[] through pg), or
 * text ("[1,2]" from pgvector's vector and halfvec, "{1,2}", "1,2" from IRIS).
 */
export function decodeVector(value: unknown, precision: VectorPrecision = 'float32'): ArrayLike<number> {
  if (value instanceof ArrayBuffer) return decodeVector(new Uint8Array(value), precision); // BLOBs over ODBC
  if (value instanceof Uint8Array) {
    const size = bytesPerFloat(precision);
    const n = Math.floor(value.byteLength / size);
    const aligned = value.byteOffset % size === 0;
    const buffer = aligned ? value.buffer : value.slice(0, n * size).buffer;
    const offset = aligned ? value.byteOffset : 0;
    return precision === 'float16'
      ? new Float16Array(buffer, offset, n)
      : new Float32Array(buffer, offset, n);
  }
  if (Array.isArray(value)) return value.map(Number);
  if (typeof value === 'string') {
    const body = value.trim().replace(/^[[{(]|[\]})]$/g, '');
    return body === '' ? [] : body.split(',').map((x) => Number(x.trim()));
  }
  throw new Error(`cannot read a stored vector of type ${typeof value}`);
}
