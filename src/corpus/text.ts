/** Small text helpers shared by the parsers. */

/** Collapse every run of whitespace (including no-break and other Unicode spaces) to one space and trim. */
export function normalizeSpace(s: string): string {
  // Only runs that are not already a single ' ' are replaced: most text has none, and this is a hot path.
  return s.replace(/[^\S ]\s*| \s+/g, ' ').trim();
}

/**
 * Bytes that are not valid in their encoding. The file or line is not loaded (its text would change silently
 * if the bad bytes were replaced); the message says where the first bad byte is and how many there are.
 */
export class EncodingError extends Error {
  /** Byte offset of the first invalid sequence. */
  readonly offset: number;
  /** Number of invalid sequences (each would have become one U+FFFD). */
  readonly count: number;

  constructor(encoding: string, offset: number, count: number) {
    super(
      `invalid ${encoding}: ${count} invalid byte sequence${count === 1 ? '' : 's'}, the first at byte ${offset}` +
        ' (not replaced: fix the source or re-encode it)',
    );
    this.name = 'EncodingError';
    this.offset = offset;
    this.count = count;
  }
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return i;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

function countReplacements(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\uFFFD'); i !== -1; i = s.indexOf('\uFFFD', i + 1)) n++;
  return n;
}

const REPLACEMENT_UTF8 = Buffer.from('\uFFFD', 'utf8');

function countOf(bytes: Uint8Array, needle: Buffer): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** Strict decoding: the text, or EncodingError naming the first invalid byte and the number of them. */
export function decodeStrict(bytes: Uint8Array, label = 'utf-8'): string {
  try {
    return new TextDecoder(label, { fatal: true }).decode(bytes);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    const lossy = new TextDecoder(label).decode(bytes);
    if (label === 'utf-8') {
      // Each invalid sequence became one U+FFFD; those that were in the bytes already are not errors.
      const count = Math.max(1, countReplacements(lossy) - countOf(bytes, REPLACEMENT_UTF8));
      throw new EncodingError('UTF-8', Math.max(0, firstInvalidUtf8(bytes)), count);
    }
    throw new EncodingError(label.toUpperCase(), 0, Math.max(1, countReplacements(lossy)));
  }
}

/**
 * Decode the bytes of an XML file: BOM, then the encoding named in the XML declaration, else UTF-8. Bytes that
 * are invalid in that encoding throw EncodingError (never replaced silently).
 */
export function decodeXml(bytes: Uint8Array): string {
  if (bytes.length >= 2) {
    if (bytes[0] === 0xff && bytes[1] === 0xfe) return decodeStrict(bytes.subarray(2), 'utf-16le');
    if (bytes[0] === 0xfe && bytes[1] === 0xff) return decodeStrict(bytes.subarray(2), 'utf-16be');
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return decodeStrict(bytes.subarray(3));
  }
  // The declaration, when present, is ASCII-compatible and at the very start.
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 200));
  const m = /^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  const label = m?.[1]?.toLowerCase();
  if (label !== undefined && label !== 'utf-8' && label !== 'utf8') {
    let known = true;
    try {
      new TextDecoder(label);
    } catch {
      known = false; // Unknown label: fall through to UTF-8, the XML default.
    }
    if (known) return decodeStrict(bytes, label);
  }
  return decodeStrict(bytes);
}

/** Split a string list ("a; b; c") into trimmed, non-empty parts. */
export function splitList(s: string, separators: RegExp): string[] {
  return s
    .split(separators)
    .map(normalizeSpace)
    .filter((x) => x.length > 0);
}

/** ISO date (yyyy, yyyy-mm or yyyy-mm-dd) from parts; invalid parts and everything after them are left out. */
export function isoDate(year: number | undefined, month?: number, day?: number): string | undefined {
  if (year === undefined || !Number.isInteger(year) || year < 1000 || year > 9999) return undefined;
  let out = String(year);
  if (month === undefined || !Number.isInteger(month) || month < 1 || month > 12) return out;
  out += `-${String(month).padStart(2, '0')}`;
  if (day === undefined || !Number.isInteger(day) || day < 1) return out;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return out;
  return `${out}-${String(day).padStart(2, '0')}`;
}

/** Parse a date given as text ("2021", "2021-03", "2021-03-04", "2021-03-04T10:00Z", "2021/3/4"). */
export function parseIsoLike(s: string): string | undefined {
  const m = /^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:$|[T\s])/.exec(s);
  if (m === null) return undefined;
  return isoDate(
    Number(m[1]),
    m[2] === undefined ? undefined : Number(m[2]),
    m[3] === undefined ? undefined : Number(m[3]),
  );
}
