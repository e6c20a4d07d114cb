/** Small text helpers shared by the parsers. */

/** Collapse every run of whitespace (including no-break and other Unicode spaces) to one space and trim. */
export function normalizeSpace(s: string): string {
  // Only runs that are not already a single ' ' are replaced: most text has none, and this is a hot path.
  return s.replace(/[^\S ]\s*| \s+/g, ' ').trim();
}

/** Decode the bytes of an XML file: BOM, then the encoding named in the XML declaration, else UTF-8. */
export function decodeXml(bytes: Uint8Array): string {
  if (bytes.length >= 2) {
    if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
    if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return new TextDecoder('utf-8').decode(bytes.subarray(3));
  }
  // The declaration, when present, is ASCII-compatible and at the very start.
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 200));
  const m = /^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  const label = m?.[1]?.toLowerCase();
  if (label !== undefined && label !== 'utf-8' && label !== 'utf8') {
    try {
      return new TextDecoder(label).decode(bytes);
    } catch {
      // Unknown label: fall through to UTF-8, the XML default.
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
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
