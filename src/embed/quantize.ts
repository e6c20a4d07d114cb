/**
 * Dynamic int8 quantization of an ONNX encoder, in the form onnxruntime's own `quantize_dynamic` writes
 * (QOperator): every MatMul (and Gemm) whose weight is a constant 2-D float initializer becomes
 *
 *   DynamicQuantizeLinear(X) -> Xq (uint8), Xscale, Xzero     activations: quantized at run time, per tensor
 *   MatMulInteger(Xq, Wq, Xzero, Wzero) -> int32             weights: quantized here, per output channel
 *   Cast(float) * (Xscale * Wscale) [+ bias for Gemm]
 *
 * onnxruntime fuses that chain into its DynamicQuantizeMatMul kernel. Everything else (embeddings, LayerNorm,
 * the attention score products, whose operands are both activations) stays float32, and the outputs are float32
 * as before, so the embedder loads the result like any other model.
 *
 * Schemes (weights; activations are always uint8, the only type DynamicQuantizeLinear produces):
 * - u8s8-7bit (default): int8 weights limited to [-63, 63]. On x86-64 CPUs without VNNI (SSE4.1/AVX2/AVX512
 *   before AVX512-VNNI) onnxruntime's u8s8 kernels use VPMADDUBSW, which adds two u8 x s8 products into an
 *   int16 and saturates when they exceed 32767; with 7-bit weights 2 x 255 x 63 = 32130 cannot overflow
 *   (onnxruntime's `reduce_range`, and the [-64, 63] bound of its "session.x64quantprecision" fix). Exact on
 *   every x86-64 CPU, at one bit of weight precision.
 * - u8s8: full int8 [-127, 127]: one more bit, but sums can saturate on CPUs without VNNI.
 * - u8u8: uint8 weights around a zero point of 128: no saturation, but onnxruntime's u8u8 kernels are slower
 *   on x86-64.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

export const QUANT_SCHEMES = ['u8s8-7bit', 'u8s8', 'u8u8'] as const;
export type QuantScheme = (typeof QUANT_SCHEMES)[number];
export const DEFAULT_QUANT_SCHEME: QuantScheme = 'u8s8-7bit';

export interface QuantizeOptions {
  scheme?: QuantScheme;
  /** One scale per output channel (default) or one per weight matrix. */
  perChannel?: boolean;
}

export interface QuantizeSummary {
  scheme: QuantScheme;
  perChannel: boolean;
  /** MatMul/Gemm nodes rewritten. */
  quantizedNodes: number;
  /** Weight values now stored as 8-bit. */
  quantizedWeights: number;
  /** Weight values that stay float32 (embeddings, LayerNorm, biases, ...). */
  floatWeights: number;
  bytesIn: number;
  bytesOut: number;
}

/** A model that cannot be quantized (not ONNX, external data, nothing to quantize...). */
export class QuantizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizeError';
  }
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT8 = onnx.TensorProto.DataType.INT8;
const UINT8 = onnx.TensorProto.DataType.UINT8;

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** The float32 values of an initializer (raw_data or float_data), or null when it is not float32. */
export function floatValues(t: ITensorProto): Float32Array | null {
  if (t.dataType !== FLOAT) return null;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0)
    throw new QuantizeError(
      `initializer "${t.name}" is stored as external data; save the model as one file first`,
    );
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

/** Transposes a row-major [rows, cols] matrix. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

export interface QuantizedWeight {
  /** Row-major [K, N] 8-bit values (int8 or uint8 by scheme). */
  values: Int8Array | Uint8Array;
  /** One per output column (perChannel), else one. */
  scales: Float32Array;
  zeroPoints: Int8Array | Uint8Array;
}

/** Symmetric quantization of a [K, N] weight matrix by column (or as a whole). Pure. */
export function quantizeWeight(
  w: Float32Array,
  k: number,
  n: number,
  scheme: QuantScheme,
  perChannel: boolean,
): QuantizedWeight {
  const qmax = scheme === 'u8s8-7bit' ? 63 : 127;
  const channels = perChannel ? n : 1;
  const maxAbs = new Float32Array(channels);
  for (let r = 0; r < k; r++)
    for (let c = 0; c < n; c++) {
      const a = Math.abs(w[r * n + c]!);
      const ch = perChannel ? c : 0;
      if (a > maxAbs[ch]!) maxAbs[ch] = a;
    }
  const scales = maxAbs.map((m) => (m > 0 ? m / qmax : 1));
  const unsigned = scheme === 'u8u8';
  const offset = unsigned ? 128 : 0;
  const values = unsigned ? new Uint8Array(k * n) : new Int8Array(k * n);
  for (let r = 0; r < k; r++)
    for (let c = 0; c < n; c++) {
      const i = r * n + c;
      const q = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / scales[perChannel ? c : 0]!)));
      values[i] = q + offset;
    }
  const zeroPoints = unsigned ? new Uint8Array(channels).fill(128) : new Int8Array(channels);
  return { values, scales, zeroPoints };
}

function tensor8(name: string, dims: number[], data: Int8Array | Uint8Array): ITensorProto {
  return {
    name,
    dims,
    dataType: data instanceof Int8Array ? INT8 : UINT8,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function floatTensor(name: string, dims: number[], data: Float32Array): ITensorProto {
  return {
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function intAttr(node: INodeProto, name: string, dflt: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? dflt : Number(a.i);
}
function floatAttr(node: INodeProto, name: string, dflt: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.f === undefined || a.f === null ? dflt : Number(a.f);
}

/**
 * Quantizes an encoded ONNX model. Returns the new model bytes and what was done. Throws QuantizeError when
 * the bytes are not an ONNX model, use external data, have an opset below 11 or hold no MatMul/Gemm with a
 * constant weight.
 */
export function quantizeModel(
  bytes: Uint8Array,
  options: QuantizeOptions = {},
): { bytes: Uint8Array; summary: QuantizeSummary } {
  if (!isLittleEndian()) throw new QuantizeError('quantizing on a big-endian machine is not supported');
  const scheme = options.scheme ?? DEFAULT_QUANT_SCHEME;
  if (!QUANT_SCHEMES.includes(scheme))
    throw new QuantizeError(`unknown scheme "${String(scheme)}" (one of ${QUANT_SCHEMES.join(', ')})`);
  const perChannel = options.perChannel ?? true;
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new QuantizeError(`not an ONNX model (corrupt or truncated?): ${(e as Error).message}`);
  }
  const graph = model.graph;
  if (!graph) throw new QuantizeError('the model has no graph');
  const main = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = Number(main?.version ?? 0);
  if (opset < 11)
    throw new QuantizeError(`opset ${opset} is too old: DynamicQuantizeLinear needs opset 11 or later`);

  const inits = new Map<string, ITensorProto>();
  for (const t of graph.initializer ?? []) inits.set(t.name ?? '', t);
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name));

  const quantized = new Map<string, { k: number; n: number }>(); // weight name (after any transpose) -> shape
  const newInits: ITensorProto[] = [];
  const nodes: INodeProto[] = [];
  let quantizedNodes = 0;
  let counter = 0;

  /** The 8-bit weight for a [K, N] float initializer (transposed first for Gemm transB), made once. */
  const weightFor = (name: string, transB: boolean): { q: string; scale: string; zero: string } | null => {
    const t = inits.get(name);
    if (!t || graphInputs.has(name) || (t.dims ?? []).length !== 2) return null;
    const key = `${name}${transB ? '^T' : ''}`;
    const q = `${key}_quantized`;
    const scale = `${key}_scale`;
    const zero = `${key}_zero_point`;
    if (!quantized.has(key)) {
      const w0 = floatValues(t);
      if (w0 === null) return null;
      let [k, n] = (t.dims ?? []).map(Number) as [number, number];
      let w = w0;
      if (transB) {
        w = transpose(w0, k, n);
        [k, n] = [n, k];
      }
      const qw = quantizeWeight(w, k, n, scheme, perChannel);
      const ch = perChannel ? [n] : [];
      newInits.push(
        tensor8(q, [k, n], qw.values),
        floatTensor(scale, ch, qw.scales),
        tensor8(zero, ch, qw.zeroPoints),
      );
      quantized.set(key, { k, n });
    }
    return { q, scale, zero };
  };

  for (const node of graph.node ?? []) {
    const ins = node.input ?? [];
    const out = node.output?.[0];
    let weight: ReturnType<typeof weightFor> = null;
    let bias: string | null = null;
    if (node.opType === 'MatMul' && (!node.domain || node.domain === 'ai.onnx') && ins.length === 2) {
      weight = weightFor(ins[1]!, false);
    } else if (
      node.opType === 'Gemm' &&
      (!node.domain || node.domain === 'ai.onnx') &&
      intAttr(node, 'transA', 0) === 0 &&
      floatAttr(node, 'alpha', 1) === 1 &&
      (ins.length < 3 || !ins[2] || floatAttr(node, 'beta', 1) === 1)
    ) {
      weight = weightFor(ins[1]!, intAttr(node, 'transB', 0) === 1);
      bias = ins[2] ? ins[2] : null;
    }
    if (weight === null || out === undefined) {
      nodes.push(node);
      continue;
    }
    const p = `${node.name || `${node.opType}_${counter}`}_quant${counter++}`;
    const xq = `${p}_x_quantized`;
    const xs = `${p}_x_scale`;
    const xz = `${p}_x_zero_point`;
    nodes.push({ name: `${p}_dql`, opType: 'DynamicQuantizeLinear', input: [ins[0]!], output: [xq, xs, xz] });
    nodes.push({
      name: `${p}_matmul`,
      opType: 'MatMulInteger',
      input: [xq, weight.q, xz, weight.zero],
      output: [`${p}_int32`],
    });
    nodes.push({
      name: `${p}_cast`,
      opType: 'Cast',
      input: [`${p}_int32`],
      output: [`${p}_float`],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
    nodes.push({ name: `${p}_scales`, opType: 'Mul', input: [xs, weight.scale], output: [`${p}_scale`] });
    const scaledOut = bias === null ? out : `${p}_scaled`;
    nodes.push({
      name: `${p}_rescale`,
      opType: 'Mul',
      input: [`${p}_float`, `${p}_scale`],
      output: [scaledOut],
    });
    if (bias !== null)
      nodes.push({ name: `${p}_bias`, opType: 'Add', input: [scaledOut, bias], output: [out] });
    quantizedNodes++;
  }
  if (quantizedNodes === 0)
    throw new QuantizeError('no MatMul or Gemm with a constant 2-D float32 weight: nothing to quantize');

  // Keep only the float initializers something still reads.
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.input ?? []) used.add(i);
  for (const o of graph.output ?? []) used.add(o.name ?? '');
  const kept = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  let floatWeights = 0;
  for (const t of kept)
    if (t.dataType === FLOAT) floatWeights += (t.dims ?? []).reduce((a, b) => a * Number(b), 1);
  let quantizedWeights = 0;
  for (const { k, n } of quantized.values()) quantizedWeights += k * n;

  graph.node = nodes;
  graph.initializer = [...kept, ...newInits];
  // Initializers listed as graph inputs (old exporters) that were replaced must go from the inputs too.
  graph.input = (graph.input ?? []).filter((i) => !inits.has(i.name ?? '') || used.has(i.name ?? ''));
  model.producerName = [model.producerName, 'datastate-quantize'].filter(Boolean).join(' + ');
  model.docString = [
    model.docString,
    `Dynamic int8 quantization (${scheme}, ${perChannel ? 'per channel' : 'per tensor'}) by datastate quantize.`,
  ]
    .filter(Boolean)
    .join('\n');
  const outBytes = onnx.ModelProto.encode(model).finish();
  return {
    bytes: outBytes,
    summary: {
      scheme,
      perChannel,
      quantizedNodes,
      quantizedWeights,
      floatWeights,
      bytesIn: bytes.length,
      bytesOut: outBytes.length,
    },
  };
}
