/**
 * Pure planning for the embedder: which word pieces go into which model input (truncation or windows), which
 * window's vector each word piece keeps, and how sequences are grouped into padded batches.
 */

/** A window over a document's word pieces (special tokens not counted): [start, end). */
export interface Window {
  start: number;
  end: number;
}

/**
 * Windows over `n` word pieces, each at most `size` long.
 * - no stride: one window, the first `size` pieces (truncation);
 * - stride s (1 <= s <= size): windows start at 0, s, 2s, ... and the last one is aligned to the end of the
 *   document (so it is full and nothing is left out); consecutive windows overlap by at least size - s.
 */
export function planWindows(n: number, size: number, stride?: number): Window[] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`window size must be a positive integer, got ${size}`);
  if (n <= size) return [{ start: 0, end: n }];
  if (stride === undefined) return [{ start: 0, end: size }];
  if (!Number.isInteger(stride) || stride < 1 || stride > size) {
    throw new RangeError(`stride must be an integer in 1..${size}, got ${stride}`);
  }
  const windows: Window[] = [];
  for (let s = 0; ; s += stride) {
    if (s + size >= n) {
      windows.push({ start: n - size, end: n });
      return windows;
    }
    windows.push({ start: s, end: s + size });
  }
}

/**
 * For each of the `n` word pieces, the index of the window whose vector it keeps: the window in which it is
 * most central (smallest distance to the window's middle, so it saw the most context on both sides); on a
 * tie the earlier window. Every piece is in at least one window, so every piece gets exactly one vector.
 */
export function assignOwners(windows: readonly Window[], n: number): Int32Array {
  const owner = new Int32Array(n).fill(-1);
  const best = new Float64Array(n).fill(Infinity);
  windows.forEach((w, wi) => {
    const mid = (w.start + w.end - 1) / 2;
    for (let i = w.start; i < w.end; i++) {
      const d = Math.abs(i - mid);
      if (d < best[i]!) {
        best[i] = d;
        owner[i] = wi;
      }
    }
  });
  for (let i = 0; i < n; i++) if (owner[i]! < 0) throw new Error(`word piece ${i} is in no window`);
  return owner;
}

export interface BatchLimits {
  /** Most sequences in one session run. */
  maxBatchSize: number;
  /** Most padded tokens (rows x longest row) in one session run. */
  maxBatchTokens: number;
  /** A sequence joins a batch only if padding it to the batch's longest row wastes at most this fraction. */
  maxPadFraction: number;
}

/**
 * Groups sequences (given by their lengths) into batches: longest first, each batch filled with the next
 * longest sequences while the limits hold. Deterministic (ties keep input order). Returns sequence indices.
 */
export function groupBatches(lengths: readonly number[], limits: BatchLimits): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  let curMax = 0;
  for (const i of order) {
    const len = lengths[i]!;
    const fits =
      cur.length > 0 &&
      cur.length < limits.maxBatchSize &&
      (cur.length + 1) * curMax <= limits.maxBatchTokens &&
      curMax - len <= limits.maxPadFraction * curMax;
    if (!fits) {
      if (cur.length > 0) batches.push(cur);
      cur = [i];
      curMax = len;
    } else {
      cur.push(i);
    }
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}
