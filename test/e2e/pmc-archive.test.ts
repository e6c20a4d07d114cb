/**
 * The real PMC archive (../shared/corpus/pmc-oa-1536.tar.gz, see test/helpers/corpus.ts), read as the
 * .tar.gz and as the extracted directory: every article loads, the counts match the seed's, and both
 * forms give the same documents in the same (sorted) order.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { SourceItem } from '../../src/core/types.ts';
import { openSource, type CorpusSource } from '../../src/corpus/index.ts';
import { extractPmcCorpus, PMC_CORPUS_FACTS, requirePmcCorpus } from '../helpers/corpus.ts';

async function readAll(source: CorpusSource): Promise<{ items: SourceItem[]; ms: number }> {
  const t0 = performance.now();
  const items: SourceItem[] = [];
  for await (const item of source.items()) items.push(item);
  return { items, ms: performance.now() - t0 };
}

function check(items: SourceItem[], source: CorpusSource): void {
  const bad = items.filter((i) => !i.ok);
  assert.deepEqual(bad, [], 'no malformed files in the archive');
  const docs = items.map((i) => (i.ok ? i.doc : assert.fail()));
  assert.equal(docs.length, PMC_CORPUS_FACTS.articles);
  assert.equal(docs.filter((d) => d.abstract !== '').length, PMC_CORPUS_FACTS.withAbstract);
  assert.equal(docs.filter((d) => d.abstract === '').length, PMC_CORPUS_FACTS.withoutAbstract);
  for (const d of docs) assert.match(d.docId, /^PMC\d+$/);
  assert.equal(new Set(docs.map((d) => d.docId)).size, docs.length, 'doc ids are unique');
  const origins = docs.map((d) => d.origin!);
  assert.deepEqual(origins, [...origins].sort(), 'sorted by path');
  for (const d of docs)
    assert.equal(`${d.docId}.xml`, d.origin!.split('/').pop(), 'the PMCID inside matches the file name');
  assert.ok(
    docs.every((d) => d.title !== ''),
    'every article has a title',
  );
  assert.ok(docs.filter((d) => d.pubDate !== undefined).length === docs.length, 'every article has a date');
  assert.deepEqual(source.stats, {
    files: PMC_CORPUS_FACTS.articles + 2, // README.md and progress.json
    skipped: 2,
    documents: PMC_CORPUS_FACTS.articles,
    withAbstract: PMC_CORPUS_FACTS.withAbstract,
    failed: 0,
    duplicates: 0,
    invalidEncoding: 0,
  });
}

describe('the shared PMC corpus', () => {
  let fromArchive: SourceItem[];
  let dir: string;

  before(async () => {
    requirePmcCorpus();
    dir = await extractPmcCorpus();
  });

  it('loads from the .tar.gz: 1,536 articles, 1,463 with an abstract, 73 without, sorted', async (t) => {
    const source = openSource({ path: requirePmcCorpus() });
    const { items, ms } = await readAll(source);
    t.diagnostic(`tar.gz: ${items.length} items in ${Math.round(ms)} ms`);
    check(items, source);
    fromArchive = items;
  });

  it('loads the same documents in the same order from the extracted directory', async (t) => {
    const source = openSource({ path: dir });
    const { items, ms } = await readAll(source);
    t.diagnostic(`directory: ${items.length} items in ${Math.round(ms)} ms`);
    check(items, source);
    assert.deepEqual(items, fromArchive);
  });
});
