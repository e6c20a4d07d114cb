/**
 * A short calibration, for a plan whose model has no earlier heal recorded (so src/core/throughput.ts has nothing
 * to measure from): a few of the documents the plan would embed go through the model in this process, nothing is
 * written, and the time they took gives seconds per document. The first call warms the model up and is not
 * timed (onnxruntime's first run allocates and plans), so the figure is the steady pace of a heal's batches;
 * reading and writing are not in it (a few per cent of a heal, docs/benchmarks.md row 2).
 */
import type { Calibration } from '../core/throughput.ts';
import type { HealingPlan } from '../core/plan.ts';
import type { DocumentSource, Embedder, EmbedInput } from '../core/ports.ts';
import type { Store } from '../core/store-port.ts';
import { isPlaceholderText } from '../core/selection.ts';
import { redactSecrets } from '../store/url.ts';

/** Documents timed by a calibration (after one untimed warm-up call). */
export const CALIBRATION_DOCUMENTS = 8;

/** Embeds `docs` once untimed (the first alone), then all of them timed; null when there is nothing to time. */
export async function calibrate(
  embedder: Embedder,
  docs: readonly EmbedInput[],
  signal?: AbortSignal,
): Promise<Calibration | null> {
  if (docs.length === 0) return null;
  await embedder.embed([docs[0]!], signal);
  const t0 = performance.now();
  const out = await embedder.embed([...docs], signal);
  const seconds = (performance.now() - t0) / 1000;
  const ok = out.filter((o) => o.ok);
  if (ok.length === 0 || seconds <= 0) return null;
  const tokens = ok.reduce((n, o) => n + o.tokens.length, 0);
  return {
    secondsPerDocument: seconds / ok.length,
    secondsPerToken: tokens > 0 ? seconds / tokens : 0,
    documents: ok.length,
    tokens,
  };
}

/**
 * What a calibration embeds: the first documents the plan embeds that are in the database, or else (an empty
 * database, everything still to load) the first ones the source would load, in its order.
 */
export async function calibrationSample(
  store: Store,
  planned: readonly string[],
  openSource: () => Promise<DocumentSource>,
  n: number = CALIBRATION_DOCUMENTS,
  signal?: AbortSignal,
): Promise<EmbedInput[]> {
  if (planned.length > 0)
    return (await store.readTexts(planned.slice(0, n)))
      .filter((t) => t.text.trim() !== '')
      .map((t) => ({ docId: t.docId, text: t.text }));
  const out: EmbedInput[] = [];
  const source = await openSource();
  for await (const item of source.items(signal)) {
    if (!item.ok || isPlaceholderText(item.doc.abstract)) continue;
    out.push({ docId: item.doc.docId, text: item.doc.abstract.trim() });
    if (out.length >= n) break;
  }
  return out;
}

/**
 * The calibration of a plan: its sample, the model opened in this process and closed again. A model that does
 * not load (or does not fit the declared dimension) gives { error }: the plan then says why it has no estimate,
 * and `ensure` meets the same error. Cancellation is thrown.
 */
export async function calibrationFor(
  plan: HealingPlan,
  deps: { store: Store; openSource: () => Promise<DocumentSource>; openEmbedder: () => Promise<Embedder> },
  signal?: AbortSignal,
): Promise<Calibration | { error: string } | null> {
  try {
    const planned = plan.embed.map((t) => t.docId);
    const sample = await calibrationSample(
      deps.store,
      planned,
      deps.openSource,
      CALIBRATION_DOCUMENTS,
      signal,
    );
    if (sample.length === 0) return null;
    const embedder = await deps.openEmbedder();
    try {
      return await calibrate(embedder, sample, signal);
    } finally {
      await embedder.close();
    }
  } catch (e) {
    if (signal?.aborted) throw e;
    return { error: redactSecrets((e as Error)?.message ?? String(e)) };
  }
}
