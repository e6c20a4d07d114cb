/**
 * The embedding throughput a model reached here, measured from the ledger earlier heals wrote. Pure.
 *
 * Every batch's ledger rows share one `embeddedAt` (taken when the batch finished embedding), so the rows with a
 * model's fingerprint give, per batch, its completion time, documents and tokens. The time between two consecutive
 * batches is what the second one cost (reading, tokenizing, embedding, the previous write): the heal's real pace on
 * the machine that did it, whatever the model. Intervals much slower per token than the typical one are pauses
 * between heals (closing, loading the model, inspecting, loading documents: often well under a second when heals
 * follow each other) and are left out; the first batch of every heal has no interval (its start is not recorded).
 * Judged per token, not per interval: a batch of long documents takes longer and is no pause.
 */

export interface LedgerStamp {
  modelFingerprint: string;
  embeddedAt: string;
  tokenCount: number;
}

export interface Throughput {
  /** Mean embedding seconds per document and per token over the measured batches. */
  secondsPerDocument: number;
  secondsPerToken: number;
  /** What the figure rests on. */
  documents: number;
  tokens: number;
  batches: number;
  /** The latest batch measured (ISO time). */
  lastAt: string;
}

/** A short calibration's figure (src/heal/calibrate.ts), for a model no earlier heal of which is recorded. */
export interface Calibration {
  secondsPerDocument: number;
  secondsPerToken: number;
  /** Documents and tokens timed. */
  documents: number;
  tokens: number;
}

/** At most this many of the latest intervals are used: the current pace, not last month's. */
export const MAX_INTERVALS = 200;
/** An interval slower per token than this many times the median interval's seconds per token is a pause. */
export const PAUSE_FACTOR = 3;

/** Throughput of `fingerprint` from the ledger rows, or null when fewer than two batches of it are recorded. */
export function measuredThroughput(
  rows: Iterable<LedgerStamp | null | undefined>,
  fingerprint: string | null,
): Throughput | null {
  if (fingerprint === null) return null;
  const batches = new Map<number, { documents: number; tokens: number; at: string }>();
  for (const r of rows) {
    if (!r || r.modelFingerprint !== fingerprint) continue;
    const t = Date.parse(r.embeddedAt);
    if (!Number.isFinite(t)) continue;
    const b = batches.get(t) ?? { documents: 0, tokens: 0, at: r.embeddedAt };
    b.documents++;
    b.tokens += r.tokenCount;
    batches.set(t, b);
  }
  const times = [...batches.keys()].sort((a, b) => a - b);
  if (times.length < 2) return null;
  const intervals = times
    .slice(1)
    .map((t, i) => ({ seconds: (t - times[i]!) / 1000, batch: batches.get(t)! }));
  const recent = intervals.slice(-MAX_INTERVALS);
  // Seconds per token; a batch of documents without tokens (none are written) is weighed as one token.
  const pace = (x: (typeof recent)[number]) => x.seconds / Math.max(1, x.batch.tokens);
  const sorted = recent.map(pace).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const kept = recent.filter((x) => x.seconds > 0 && pace(x) <= PAUSE_FACTOR * median);
  if (kept.length === 0) return null;
  const seconds = kept.reduce((s, x) => s + x.seconds, 0);
  const documents = kept.reduce((s, x) => s + x.batch.documents, 0);
  const tokens = kept.reduce((s, x) => s + x.batch.tokens, 0);
  return {
    secondsPerDocument: seconds / documents,
    secondsPerToken: tokens > 0 ? seconds / tokens : 0,
    documents,
    tokens,
    batches: kept.length,
    lastAt: kept[kept.length - 1]!.batch.at,
  };
}
