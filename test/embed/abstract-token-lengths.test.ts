/**
 * Abstract lengths in bert-base-uncased word pieces (the tokenizer shipped in models/), for the real PMC
 * corpus as this module extracts it and for the synthetic corpus that stands in for it. Both are
 * deterministic, so the figures are pinned: they are the ones docs/corpus.md quotes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { DocumentRecord } from '../../src/core/types.ts';
import { openSource, syntheticDocument } from '../../src/corpus/index.ts';
import { loadTokenizer } from '../../src/embed/tokenizer.ts';
import { extractPmcCorpus, REPO_ROOT } from '../helpers/corpus.ts';

interface Lengths {
  withAbstract: number;
  without: number;
  meanPieces: number;
  maxPieces: number;
  over512: number;
  piecesPerWord: number;
}

async function lengths(docs: Iterable<DocumentRecord> | AsyncIterable<DocumentRecord>): Promise<Lengths> {
  const tok = await loadTokenizer(join(REPO_ROOT, 'models', 'bert-base-uncased-tokenizer'));
  let n = 0;
  let without = 0;
  let sum = 0;
  let max = 0;
  let over = 0;
  let words = 0;
  for await (const d of docs) {
    if (d.abstract === '') {
      without++;
      continue;
    }
    const p = tok.encode(d.abstract).ids.length;
    n++;
    sum += p;
    max = Math.max(max, p);
    if (p > 512) over++;
    words += d.abstract.split(/\s+/).length;
  }
  return {
    withAbstract: n,
    without,
    meanPieces: +(sum / n).toFixed(1),
    maxPieces: max,
    over512: over,
    piecesPerWord: +(sum / words).toFixed(3),
  };
}

async function* pmcDocs(): AsyncGenerator<DocumentRecord> {
  for await (const item of openSource({ path: await extractPmcCorpus() }).items())
    if (item.ok) yield item.doc;
}

describe('abstract lengths in word pieces', () => {
  it('of the real PMC corpus', async (t) => {
    const l = await lengths(pmcDocs());
    t.diagnostic(JSON.stringify(l));
    assert.deepEqual(l, {
      withAbstract: 1463,
      without: 73,
      meanPieces: 359.8,
      maxPieces: 1354,
      over512: 157,
      piecesPerWord: 1.54,
    });
  });

  it('of the synthetic corpus: close to the real one', async (t) => {
    const l = await lengths(Array.from({ length: 5000 }, (_, i) => syntheticDocument(i + 1)));
    t.diagnostic(JSON.stringify(l));
    assert.deepEqual(l, {
      withAbstract: 4777,
      without: 223,
      meanPieces: 367.6,
      maxPieces: 970,
      over512: 498,
      piecesPerWord: 1.473,
    });
    // What makes it a stand-in: mean within 5% of the real 359.8, and the share over 512 pieces (10.4%)
    // near the real 10.7%, so truncation and windows are exercised as on real data.
    assert.ok(Math.abs(l.meanPieces / 359.8 - 1) < 0.05);
  });
});
