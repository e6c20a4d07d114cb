import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { DocumentRecord } from '../../src/core/types.ts';
import {
  MAX_SYNTHETIC_DOCS,
  SYNTHETIC_TITLE_PREFIX,
  SyntheticSource,
  openSource,
  syntheticDocId,
  syntheticDocument,
} from '../../src/corpus/index.ts';

async function take(
  source: { items(signal?: AbortSignal): AsyncIterable<unknown> },
  n: number,
): Promise<DocumentRecord[]> {
  const out: DocumentRecord[] = [];
  for await (const item of source.items() as AsyncIterable<{ ok: boolean; doc: DocumentRecord }>) {
    assert.ok(item.ok);
    out.push(item.doc);
    if (out.length === n) break;
  }
  return out;
}

function sha256(docs: DocumentRecord[]): string {
  const h = createHash('sha256');
  for (const d of docs) h.update(JSON.stringify(d) + '\n');
  return h.digest('hex');
}

describe('synthetic corpus', () => {
  it('is the same on every run and every machine (pinned digest of the first 100 documents)', () => {
    const docs = Array.from({ length: 100 }, (_, i) => syntheticDocument(i + 1));
    // If you change the generator on purpose, update this digest (and say so: it changes every synthetic dataset).
    assert.equal(sha256(docs), '1e5345f41e028d22d5a98858a9a86a15d38121c9aece0af20f5e8318fc88168a');
  });

  it('makes document i from (seed, i) alone: any prefix is the same whatever the count', async () => {
    const a = await take(openSource({ count: 50 }), 50);
    const b = await take(openSource(), 50);
    assert.deepEqual(a, b);
    assert.deepEqual(syntheticDocument(37), a[36]);
    const other = await take(new SyntheticSource({ seed: 7 }), 3);
    assert.notDeepEqual(other, a.slice(0, 3));
  });

  it('says it is synthetic everywhere', async () => {
    const source = openSource({});
    assert.equal(source.synthetic, true);
    assert.match(source.description, /synthetic corpus \(generated text, not real articles/);
    for (const d of await take(source, 20)) {
      assert.ok(d.title.startsWith(SYNTHETIC_TITLE_PREFIX), d.title);
      assert.match(d.origin!, /^synthetic:seed=42\/SYN\d{6}$/);
    }
  });

  it('numbers documents SYN000001.. in order, up to 999,999', async () => {
    const docs = await take(openSource({ count: 3 }), 10);
    assert.deepEqual(
      docs.map((d) => d.docId),
      ['SYN000001', 'SYN000002', 'SYN000003'],
    );
    assert.equal(syntheticDocId(MAX_SYNTHETIC_DOCS), 'SYN999999');
    assert.equal(syntheticDocument(MAX_SYNTHETIC_DOCS).docId, 'SYN999999');
    assert.throws(() => syntheticDocument(0), RangeError);
    assert.throws(() => syntheticDocument(MAX_SYNTHETIC_DOCS + 1), RangeError);
  });

  it('looks like the real corpus: ~5% without abstract, ~250 words per abstract, long ones, full metadata', () => {
    const docs = Array.from({ length: 2000 }, (_, i) => syntheticDocument(i + 1));
    const without = docs.filter((d) => d.abstract === '').length;
    assert.ok(without >= 60 && without <= 140, `documents without abstract: ${without} of 2000`);
    const words = docs.filter((d) => d.abstract !== '').map((d) => d.abstract.split(/\s+/).length);
    const mean = words.reduce((a, b) => a + b, 0) / words.length;
    assert.ok(mean > 220 && mean < 280, `mean words per abstract: ${mean}`);
    assert.ok(words.filter((w) => w > 512 / 1.47).length > 100, 'some abstracts are over 512 word pieces');
    assert.ok(docs.filter((d) => d.abstract.includes('\n\nMethods\n')).length > 600, 'structured abstracts');
    for (const d of docs.slice(0, 200)) {
      assert.ok(d.authors.length >= 2 && d.authors.length <= 10);
      assert.ok(d.keywords.length >= 3 && d.keywords.length <= 6);
      assert.equal(new Set(d.keywords).size, d.keywords.length);
      assert.match(d.pubDate!, /^(199[5-9]|20[0-2]\d)-\d\d-\d\d$/);
      assert.ok(d.textContent.startsWith('Introduction\n'));
    }
  });

  it('counts what it yields and stops when aborted', async () => {
    const source = openSource({ count: 5000 });
    const ac = new AbortController();
    let n = 0;
    await assert.rejects(async () => {
      for await (const _ of source.items(ac.signal)) if (++n === 1500) ac.abort();
    }, /abort/i);
    assert.equal(n, 1500);
    assert.equal(source.stats.documents, 1500);
    assert.ok(source.stats.withAbstract > 1350 && source.stats.withAbstract < 1500);
  });
});
