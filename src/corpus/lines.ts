/**
 * Lines of a byte stream, split at "\n" (a "\r" before it is dropped), with memory bounded: a line longer
 * than `maxBytes` is not kept but counted to its end and handed out as { tooLong } with its length, so one
 * multi-gigabyte line costs one chunk of memory, not its size. Lines are numbered from 1.
 */
export type Line = { n: number; bytes: Buffer } | { n: number; tooLong: number };

const NL = 0x0a;
const CR = 0x0d;

export async function* splitLines(input: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let length = 0; // bytes of the current line seen so far (kept or not)
  let n = 0;
  const end = (): Line => {
    n++;
    if (length > maxBytes) {
      const line: Line = { n, tooLong: length };
      parts = [];
      length = 0;
      return line;
    }
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    parts = [];
    length = 0;
    return { n, bytes };
  };
  const add = (piece: Buffer) => {
    length += piece.length;
    if (length <= maxBytes) parts.push(piece);
    else parts = [];
  };
  for await (const chunk of input) {
    let from = 0;
    for (let i = chunk.indexOf(NL, from); i !== -1; i = chunk.indexOf(NL, from)) {
      add(chunk.subarray(from, i));
      yield end();
      from = i + 1;
    }
    if (from < chunk.length) add(chunk.subarray(from));
  }
  if (length > 0 || parts.length > 0) yield end();
}
