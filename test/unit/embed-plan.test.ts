import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignOwners, groupBatches, planWindows } from '../../src/embed/plan.ts';

describe('planWindows', () => {
  it('one window when the document fits', () => {
    assert.deepEqual(planWindows(10, 10), [{ start: 0, end: 10 }]);
    assert.deepEqual(planWindows(3, 10, 4), [{ start: 0, end: 3 }]);
  });
  it('truncates without a stride', () => {
    assert.deepEqual(planWindows(25, 10), [{ start: 0, end: 10 }]);
  });
  it('slides by the stride and aligns the last window to the end', () => {
    assert.deepEqual(planWindows(25, 10, 5), [
      { start: 0, end: 10 },
      { start: 5, end: 15 },
      { start: 10, end: 20 },
      { start: 15, end: 25 },
    ]);
    assert.deepEqual(planWindows(23, 10, 10), [
      { start: 0, end: 10 },
      { start: 10, end: 20 },
      { start: 13, end: 23 },
    ]);
    assert.deepEqual(planWindows(11, 10, 7), [
      { start: 0, end: 10 },
      { start: 1, end: 11 },
    ]);
  });
  it('every window is full and the union covers the document', () => {
    for (const [n, size, stride] of [
      [100, 16, 1],
      [100, 16, 7],
      [513, 510, 255],
      [1792, 510, 256],
    ] as const) {
      const ws = planWindows(n, size, stride);
      const seen = new Uint8Array(n);
      for (const w of ws) {
        assert.equal(w.end - w.start, size);
        for (let i = w.start; i < w.end; i++) seen[i] = 1;
      }
      assert.ok(seen.every((x) => x === 1));
      for (let i = 1; i < ws.length; i++) assert.ok(ws[i]!.start > ws[i - 1]!.start);
    }
  });
  it('rejects a stride larger than the window or not positive', () => {
    assert.throws(() => planWindows(30, 10, 11), RangeError);
    assert.throws(() => planWindows(30, 10, 0), RangeError);
  });
});

describe('assignOwners', () => {
  it('gives each piece to the window where it is most central, earlier window on ties', () => {
    const ws = planWindows(25, 10, 5); // starts 0,5,10,15
    const owner = assignOwners(ws, 25);
    // piece 7 is 2.5 from the middles of window 0 (4.5) and window 1 (9.5): the tie goes to window 0
    assert.deepEqual(
      Array.from(owner),
      [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3],
    );
  });
  it('owned ranges are contiguous and in window order', () => {
    const ws = planWindows(1792, 510, 256);
    const owner = assignOwners(ws, 1792);
    for (let i = 1; i < owner.length; i++)
      assert.ok(owner[i]! === owner[i - 1]! || owner[i]! === owner[i - 1]! + 1);
    assert.equal(owner[0], 0);
    assert.equal(owner[1791], ws.length - 1);
  });
});

describe('groupBatches', () => {
  const limits = { maxBatchSize: 3, maxBatchTokens: 1000, maxPadFraction: 0.1 };
  it('groups longest first within the limits, deterministically', () => {
    const lengths = [100, 300, 95, 290, 280, 99, 50];
    const b = groupBatches(lengths, limits);
    assert.deepEqual(b, [[1, 3, 4], [0, 5, 2], [6]]);
    assert.deepEqual(groupBatches(lengths, limits), b);
  });
  it('never exceeds the padded token budget, and splits on too much padding', () => {
    const b = groupBatches([400, 400, 400], { ...limits, maxBatchTokens: 800 });
    assert.deepEqual(b, [[0, 1], [2]]);
    assert.deepEqual(groupBatches([100, 80], limits), [[0], [1]]);
  });
  it('every sequence lands in exactly one batch', () => {
    const lengths = Array.from({ length: 200 }, (_, i) => 10 + ((i * 37) % 500));
    const b = groupBatches(lengths, { maxBatchSize: 8, maxBatchTokens: 4096, maxPadFraction: 0.05 });
    assert.deepEqual(
      b.flat().sort((x, y) => x - y),
      lengths.map((_, i) => i),
    );
  });
});
