/**
 * What a model.onnx says about itself, read from the ONNX file (no session): opset, inputs and outputs with
 * their shapes, and the rows of the embedding matrices (how many token ids and positions the model takes).
 * Also the decisions made from that: which output holds the token vectors and why, and which inputs we can
 * feed. onnxruntime's own metadata gives the same inputs and outputs; the matrix sizes only the graph has.
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { ModelLoadError } from './errors.ts';

const { onnx } = onnxProto;

export interface TensorInfo {
  name: string;
  /** float32, int64, ... */
  type: string;
  /** Dimension sizes, or their symbolic names for dynamic ones ('?' when unnamed). */
  shape: (number | string)[];
}

export interface ModelGraph {
  opset: number | null;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Rows of the matrix input_ids index into (the model's vocabulary size); null when not found. */
  vocabRows: number | null;
  /** Rows of the position-embedding matrix (the model's maximum positions); null when not found. */
  positionRows: number | null;
}

/** The inputs a token embedder feeds. */
export const FEEDABLE_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;
/** Per-token output names of the usual exports, in order of preference. */
export const TOKEN_OUTPUT_NAMES = ['last_hidden_state', 'token_embeddings'] as const;

const ELEM_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

function tensorInfo(v: onnxProto.onnx.IValueInfoProto): TensorInfo {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    type: ELEM_TYPES[t?.elemType ?? 0] ?? `type ${t?.elemType ?? '?'}`,
    shape: (t?.shape?.dim ?? []).map((d) =>
      d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : '?',
    ),
  };
}

/** Reads model.onnx's graph. Throws ModelLoadError naming the file when it is not an ONNX model. */
export async function readModelGraph(modelFile: string): Promise<ModelGraph> {
  let bytes: Buffer;
  try {
    bytes = await readFile(modelFile);
  } catch (e) {
    throw new ModelLoadError(modelFile, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelLoadError(
      modelFile,
      `cannot be read as ONNX (corrupt, truncated or not an ONNX model?): ${(e as Error).message}`,
      { cause: e },
    );
  }
  const graph = model.graph;
  if (!graph) throw new ModelLoadError(modelFile, 'has no graph (corrupt, truncated or not an ONNX model?)');
  const inits = graph.initializer ?? [];
  const initializers = new Set(inits.map((t) => t.name));
  const rowsOf = (name: string | null | undefined): number | null => {
    if (name === undefined || name === null || !initializers.has(name)) return null;
    const t = inits.find((i) => i.name === name);
    const d = t?.dims?.[0];
    return d === undefined ? null : Number(d);
  };
  let vocabRows: number | null = null;
  let positionRows: number | null = null;
  for (const node of graph.node ?? []) {
    const ins = node.input ?? [];
    if (node.opType === 'Gather' && ins[1] === 'input_ids') vocabRows ??= rowsOf(ins[0]);
    if (node.opType === 'Gather' && /position_embeddings/.test(ins[0] ?? '')) positionRows ??= rowsOf(ins[0]);
    // onnxruntime's fused embedding op (an optimized model): input_ids, segment_ids, word, position, ...
    if (node.opType === 'EmbedLayerNormalization') {
      vocabRows ??= rowsOf(ins[2]);
      positionRows ??= rowsOf(ins[3]);
    }
  }
  if (vocabRows === null) {
    const w = inits.find((i) => /word_embeddings/.test(i.name ?? ''));
    if (w) vocabRows = rowsOf(w.name);
  }
  const main = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? '')).map(tensorInfo);
  return {
    opset: main?.version !== undefined && main.version !== null ? Number(main.version) : null,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs,
    outputs: (graph.output ?? []).map(tensorInfo),
    vocabRows,
    positionRows,
  };
}

/** Throws ModelLoadError when the model lacks input_ids/attention_mask or needs an input we cannot feed. */
export function checkInputs(inputs: readonly Pick<TensorInfo, 'name'>[], modelFile: string): void {
  const names = inputs.map((i) => i.name);
  for (const need of ['input_ids', 'attention_mask']) {
    if (!names.includes(need)) {
      throw new ModelLoadError(
        modelFile,
        `has no "${need}" input (inputs: ${names.join(', ')}); a BERT-family encoder is expected`,
      );
    }
  }
  const unknown = names.filter((n) => !(FEEDABLE_INPUTS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new ModelLoadError(
      modelFile,
      `needs inputs this embedder cannot feed: ${unknown.join(', ')} (it feeds ${FEEDABLE_INPUTS.join(', ')}); ` +
        're-export the model without them (docs/embedding.md, "Model presets")',
    );
  }
}

function shapeText(t: TensorInfo): string {
  return `[${t.shape.join(', ')}]`;
}

/**
 * Which output holds the token vectors, and why: the one embedder.json names; else last_hidden_state, else
 * token_embeddings (sentence-transformers' export); else the only 3-D float output. An output that is
 * pooled (2-D: one vector per text) is refused, also when embedder.json names it.
 */
export function chooseTokenOutput(
  outputs: readonly TensorInfo[],
  configured: string | undefined,
  modelFile: string,
): { name: string; reason: string } {
  const list = outputs.map((o) => `${o.name} ${shapeText(o)}`).join(', ');
  const perToken = (o: TensorInfo) => o.type === 'float32' && o.shape.length === 3;
  const check = (o: TensorInfo, why: string) => {
    if (o.shape.length === 2) {
      const alt = outputs.find(perToken);
      throw new ModelLoadError(
        modelFile,
        `output "${o.name}" ${shapeText(o)} is pooled (one vector per text), not one vector per token` +
          (alt
            ? `; the token vectors are in "${alt.name}" ${shapeText(alt)}: name that in embedder.json "output"`
            : '') +
          ` (outputs: ${list})`,
      );
    }
    if (!perToken(o))
      throw new ModelLoadError(
        modelFile,
        `output "${o.name}" is ${o.type} ${shapeText(o)}; a float32 [batch, sequence, dim] output is needed (outputs: ${list})`,
      );
    return { name: o.name, reason: why };
  };
  if (configured !== undefined) {
    const o = outputs.find((x) => x.name === configured);
    if (!o)
      throw new ModelLoadError(
        modelFile,
        `has no output "${configured}" (named in embedder.json); its outputs are ${outputs.map((x) => x.name).join(', ')}`,
      );
    return check(o, 'named in embedder.json "output"');
  }
  for (const n of TOKEN_OUTPUT_NAMES) {
    const o = outputs.find((x) => x.name === n);
    if (o) return check(o, `the per-token output name of the usual exports (${n})`);
  }
  const rank3 = outputs.filter(perToken);
  if (rank3.length === 1) return check(rank3[0]!, 'the only float32 [batch, sequence, dim] output');
  if (rank3.length === 0 && outputs.some((o) => o.shape.length === 2))
    return check(
      outputs.find((o) => o.shape.length === 2)!,
      '',
    );
  throw new ModelLoadError(
    modelFile,
    `cannot tell which output holds the token vectors (outputs: ${list}); name it in embedder.json as "output"`,
  );
}
