import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { SourceItem } from '../../src/core/types.ts';
import { CorpusError, openSource, parseJsonlLine } from '../../src/corpus/index.ts';

const LINES = [
  '\uFEFF{"doc_id":"PMC1","title":"  A   title ","abstract":"Line one.\\n\\n\\n  Line   two.","text_content":"Body.","authors":["Ada Lovelace"," Alan Turing "],"keywords":"x; y, z","pub_date":"2020-05-17T08:00:00Z"}',
  '',
  '{"id":42,"title":"Numeric id","text":"T","authors":"Grace Hopper; Ada Lovelace","keywords":["k"],"year":1999}',
  '{"doc_id":"PMC3","title":"No abstract"}',
  '{"doc_id": "PMC4", "title": "truncated',
  '[1, 2, 3]',
  '{"title":"no id"}',
  '{"doc_id":"PMC5","abstract":17}',
  '{"doc_id":"PMC6","authors":[{"name":"x"}]}',
  '{"doc_id":"PMC1","title":"again"}',
  '{"docId":"PMC7","textContent":"camel","pubDate":"not a date","abstract":null}',
  '   ',
];

let root: string;
let plain: string;
let gz: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'datastate-jsonl-'));
  plain = join(root, 'docs.jsonl');
  gz = join(root, 'docs.jsonl.gz');
  await writeFile(plain, LINES.join('\r\n') + '\n');
  await writeFile(gz, gzipSync(LINES.join('\n')));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function collect(path: string): Promise<{ items: SourceItem[]; stats: unknown }> {
  const source = openSource({ path });
  const items: SourceItem[] = [];
  for await (const item of source.items()) items.push(item);
  return { items, stats: source.stats };
}

describe('jsonl source', () => {
  for (const which of ['plain', 'gzip'] as const) {
    it(`reads documents and reports bad lines with file:line (${which})`, async () => {
      const path = which === 'plain' ? plain : gz;
      const name = which === 'plain' ? 'docs.jsonl' : 'docs.jsonl.gz';
      const { items, stats } = await collect(path);
      const brief = items.map((i) =>
        i.ok ? `${i.doc.origin} ok ${i.doc.docId}` : `${i.origin} bad ${i.reason}`,
      );
      assert.deepEqual(brief, [
        `${name}:1 ok PMC1`,
        `${name}:3 ok 42`,
        `${name}:4 ok PMC3`,
        `${name}:5 bad ${brief[3]!.split(' bad ')[1]}`,
        `${name}:6 bad not a JSON object but an array`,
        `${name}:7 bad no doc_id (or id)`,
        `${name}:8 bad field "abstract" must be a string, not a number`,
        `${name}:9 bad field "authors"[0] must be a string, not an object`,
        `${name}:10 bad duplicate doc_id PMC1: already read from ${name}:1`,
        `${name}:11 ok PMC7`,
      ]);
      assert.match(brief[3]!, /bad invalid JSON: /);
      assert.deepEqual(stats, {
        files: 10,
        skipped: 2,
        documents: 4,
        withAbstract: 1,
        failed: 6,
        duplicates: 1,
        invalidEncoding: 0,
      });

      const first = items[0]!;
      assert.ok(first.ok);
      assert.deepEqual(first.doc, {
        docId: 'PMC1',
        title: 'A title',
        abstract: 'Line one.\n\nLine two.',
        textContent: 'Body.',
        authors: ['Ada Lovelace', 'Alan Turing'],
        keywords: ['x', 'y', 'z'],
        pubDate: '2020-05-17',
        origin: `${name}:1`,
      });
      const second = items[1]!;
      assert.ok(second.ok);
      assert.deepEqual(
        [
          second.doc.authors,
          second.doc.keywords,
          second.doc.pubDate,
          second.doc.textContent,
          second.doc.abstract,
        ],
        [['Grace Hopper', 'Ada Lovelace'], ['k'], '1999', 'T', ''],
      );
      const last = items[9]!;
      assert.ok(last.ok);
      assert.equal(last.doc.textContent, 'camel');
      assert.equal(last.doc.pubDate, undefined);
    });
  }

  it('throws SOURCE_INVALID after the good lines when the gzip stream is damaged', async () => {
    const bad = join(root, 'bad.jsonl.gz');
    const full = gzipSync(
      Array.from({ length: 2000 }, (_, i) =>
        JSON.stringify({ id: `D${i}`, abstract: 'x'.repeat(50 + (i % 7)) }),
      ).join('\n'),
    );
    await writeFile(bad, full.subarray(0, Math.floor(full.length * 0.6)));
    let n = 0;
    await assert.rejects(
      async () => {
        for await (const item of openSource({ path: bad }).items()) if (item.ok) n++;
      },
      (e: unknown) =>
        e instanceof CorpusError && e.code === 'SOURCE_INVALID' && /past line \d+/.test(e.message),
    );
    assert.ok(n > 0, 'the lines before the damage are yielded');
  });

  it('parses one line on its own', () => {
    assert.deepEqual(parseJsonlLine('{"pmcid":"PMC9","title":"t","body":"b","date":"2021/3/4"}', 'f:1'), {
      ok: true,
      doc: {
        docId: 'PMC9',
        title: 't',
        abstract: '',
        textContent: 'b',
        authors: [],
        keywords: [],
        pubDate: '2021-03-04',
        origin: 'f:1',
      },
    });
    assert.deepEqual(parseJsonlLine('{"id":""}', 'f:2'), {
      ok: false,
      origin: 'f:2',
      reason: 'field "id" must be a non-empty string or a number',
    });
  });
});
