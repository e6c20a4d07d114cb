/**
 * Poison input in a source: every failure to read one file or line is that item's failure (whatever the
 * exception), invalid bytes are counted and never replaced, and an oversized line is read without being kept.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { SourceItem } from '../../src/core/types.ts';
import { JsonlSource, openSource, parseJatsFile, PmcXmlSource } from '../../src/corpus/index.ts';
import { c as createTar } from 'tar';
import { splitLines } from '../../src/corpus/lines.ts';
import { decodeStrict, EncodingError, firstInvalidUtf8 } from '../../src/corpus/text.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'datastate-poison-'));
});
after(() => rm(root, { recursive: true, force: true }));

async function all(items: AsyncIterable<SourceItem>): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const i of items) out.push(i);
  return out;
}

const article = (id: string, abstract: string) =>
  `<article><front><article-meta><article-id pub-id-type="pmc">${id}</article-id>` +
  `<title-group><article-title>T</article-title></title-group><abstract><p>${abstract}</p></abstract>` +
  `</article-meta></front></article>`;

describe('strict decoding', () => {
  it('finds the first invalid UTF-8 byte and counts the invalid sequences', () => {
    assert.equal(firstInvalidUtf8(Buffer.from('héllo ✓ 𝄞', 'utf8')), -1);
    const bad = Buffer.concat([
      Buffer.from('ab'),
      Buffer.from([0xc3]),
      Buffer.from('c'),
      Buffer.from([0xff]),
    ]);
    assert.equal(firstInvalidUtf8(bad), 2);
    assert.throws(
      () => decodeStrict(bad),
      (e: unknown) => e instanceof EncodingError && e.offset === 2 && e.count === 2,
    );
    // Overlong encodings, surrogates and a cut-off sequence at the end are invalid too.
    for (const b of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xe2, 0x82],
      [0xf4, 0x90, 0x80, 0x80],
    ])
      assert.equal(firstInvalidUtf8(Buffer.from([0x41, ...b])), 1, String(b));
    // A U+FFFD that is in the text already is not an error.
    assert.equal(decodeStrict(Buffer.from('a\uFFFDb', 'utf8')), 'a\uFFFDb');
  });
});

describe('pmc-xml: one bad file is that file alone', () => {
  it('reports invalid UTF-8 (counted), a parser exception and bad XML, and reads the other files', async () => {
    const dir = join(root, 'pmc');
    await mkdir(dir);
    await writeFile(join(dir, 'PMC1.xml'), article('PMC1', 'A good abstract.'));
    const bad = Buffer.from(article('PMC2', 'caf\u00e9 XX'), 'utf8');
    bad[bad.indexOf('XX')] = 0xff; // one invalid byte
    await writeFile(join(dir, 'PMC2.xml'), bad);
    // Deep nesting is well-formed XML, but makes the extraction overflow the stack: not an XmlSyntaxError.
    const deep = 100_000;
    await writeFile(
      join(dir, 'PMC3.xml'),
      article('PMC3', `${'<italic>'.repeat(deep)}x${'</italic>'.repeat(deep)}`),
    );
    await writeFile(join(dir, 'PMC4.xml'), article('PMC4', 'truncated').slice(0, 60));
    await writeFile(join(dir, 'PMC5.xml'), article('PMC5', 'Another good abstract.'));
    const src = openSource({ path: dir });
    const items = await all(src.items());
    assert.deepEqual(
      items.map((i) => (i.ok ? i.doc.docId : i.origin)),
      ['PMC1', 'PMC2.xml', 'PMC3.xml', 'PMC4.xml', 'PMC5'],
    );
    const reasons = items.flatMap((i) => (i.ok ? [] : [i.reason]));
    assert.match(reasons[0]!, /^invalid UTF-8: 1 invalid byte sequence, the first at byte \d+/);
    assert.match(reasons[1]!, /^cannot parse: Maximum call stack size exceeded/);
    assert.match(reasons[2]!, /^not well-formed XML/);
    assert.equal(src.stats.failed, 3);
    assert.equal(src.stats.invalidEncoding, 1);
    assert.equal(src.stats.documents, 2);
  });

  it('a file over the size limit fails alone, in its place, never read (directory and archive)', async () => {
    const dir = join(root, 'sizes');
    await mkdir(dir);
    const names: string[] = [];
    for (let i = 1; i <= 9; i++) {
      const name = `PMC${i}.xml`;
      names.push(name);
      const abstract = i === 4 || i === 8 ? 'x'.repeat(5000) : `Abstract ${i}.`;
      await writeFile(join(dir, name), article(`PMC${i}`, abstract));
    }
    const archive = join(root, 'sizes.tar.gz');
    await createTar({ gzip: true, file: archive, cwd: dir }, names.slice().reverse());
    const expected = ['PMC1', 'PMC2', 'PMC3', 'PMC4.xml', 'PMC5', 'PMC6', 'PMC7', 'PMC8.xml', 'PMC9'];
    // A small window makes the archive take several passes: the oversized members keep their places.
    for (const [layout, path] of [
      ['directory', dir],
      ['archive', archive],
    ] as const) {
      const src = new PmcXmlSource({ path, layout, maxFileBytes: 1000, windowBytes: 600 });
      const items = await all(src.items());
      assert.deepEqual(
        items.map((i) => (i.ok ? i.doc.docId : i.origin)),
        expected,
        layout,
      );
      for (const i of items)
        if (!i.ok)
          assert.match(i.reason, /^file of \d+ bytes is larger than the limit of 1000 bytes \(not read\)$/);
    }
  });

  it('UTF-16 is decoded strictly as well', () => {
    // Odd length: the last UTF-16 code unit is cut off.
    const bytes = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from('<a/>', 'utf16le'),
      Buffer.from([0x41]),
    ]);
    const items = parseJatsFile(bytes, 'x.xml');
    assert.equal(items.length, 1);
    assert.equal(items[0]!.ok, false);
    assert.match((items[0] as { reason: string }).reason, /^invalid UTF-16LE/);
  });
});

describe('jsonl: one bad line is that line alone', () => {
  it('reports invalid UTF-8, an unpaired surrogate and an oversized line, and reads the rest', async () => {
    const path = join(root, 'poison.jsonl');
    const big = `{"doc_id":"BIG","abstract":"${'x'.repeat(5000)}"}`;
    await writeFile(
      path,
      Buffer.concat([
        Buffer.from('{"doc_id":"A","abstract":"first"}\n'),
        Buffer.from('{"doc_id":"B","abstract":"caf'),
        Buffer.from([0xe9]), // latin-1 é: invalid UTF-8
        Buffer.from('"}\r\n'),
        Buffer.from('{"doc_id":"C","abstract":"\\ud800 lone"}\n'),
        Buffer.from(`${big}\n`),
        Buffer.from('{"doc_id":"D","abstract":"NUL \\u0000 is valid JSON and valid UTF-8"}\n'),
        Buffer.from('{"doc_id":"E","abstract":"last, no newline"}'),
      ]),
    );
    const src = new JsonlSource(path, { maxLineBytes: 1024 });
    const items = await all(src.items());
    assert.deepEqual(
      items.map((i) => (i.ok ? i.doc.docId : i.origin)),
      ['A', 'poison.jsonl:2', 'poison.jsonl:3', 'poison.jsonl:4', 'D', 'E'],
    );
    const reasons = items.flatMap((i) => (i.ok ? [] : [i.reason]));
    assert.match(reasons[0]!, /^invalid UTF-8: 1 invalid byte sequence, the first at byte 29/);
    assert.match(reasons[1]!, /unpaired surrogate/);
    assert.equal(
      reasons[2],
      `line of ${big.length} bytes is longer than the limit of 1024 bytes (not read into memory)`,
    );
    assert.equal(src.stats.invalidEncoding, 1);
    assert.equal(src.stats.failed, 3);
    const d = items[4]!;
    assert.ok(d.ok && d.doc.abstract.includes('\u0000'), 'the source does not judge what a database stores');
  });

  it('splits lines without keeping one longer than the limit (4 GiB, fed in chunks)', async () => {
    const chunk = Buffer.alloc(1 << 20, 0x78);
    async function* feed() {
      yield Buffer.from('short\n');
      for (let i = 0; i < 4096; i++) yield chunk; // 4 GiB without a newline: more than any Buffer or string holds
      yield Buffer.from('\nafter\r\n');
    }
    const lines = [];
    for await (const l of splitLines(feed(), 1 << 16))
      lines.push('tooLong' in l ? l : { n: l.n, text: l.bytes.toString() });
    assert.deepEqual(lines, [
      { n: 1, text: 'short' },
      { n: 2, tooLong: 4096 * (1 << 20) },
      { n: 3, text: 'after' },
    ]);
  });

  it('splits lines at chunk boundaries and keeps a line of exactly the limit', async () => {
    const lines = [];
    for await (const l of splitLines(
      Readable.from([Buffer.from('ab'), Buffer.from('c\nde'), Buffer.from('f\n\n')]),
      3,
    ))
      lines.push('tooLong' in l ? l : l.bytes.toString());
    assert.deepEqual(lines, ['abc', 'def', '']);
  });
});
