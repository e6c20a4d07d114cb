/**
 * One onnxruntime session on a BERT-family encoder: opening it (with clear errors naming the file), checking
 * its inputs, choosing the output, reading the output dimension with a probe run, and running padded batches.
 * Used on the calling thread (sessions: 0) and inside each session thread (src/embed/session-thread.ts).
 */
import ort from 'onnxruntime-node';
import { EmbedderError, ModelLoadError } from './errors.ts';
import { checkInputs, chooseTokenOutput, type TensorInfo } from './model-graph.ts';

export interface SessionSettings {
  modelFile: string;
  /** onnxruntime intra-op threads. */
  threads: number;
  /** Output named in embedder.json, if any. */
  output: string | undefined;
  /** A short input (special tokens + a word) for the probe run. */
  probeIds: number[];
  padId: number;
}

export interface RunResult {
  /** [rows, seqLen, dimension] float32, row-major. */
  data: Float32Array;
  seqLen: number;
}

export interface ModelSession {
  readonly output: string;
  readonly dimension: number;
  /** Runs rows of token ids, right-padded with the pad id and attention_mask 0. */
  run(rows: readonly (readonly number[])[]): Promise<RunResult>;
  release(): Promise<void>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** int32 values widened to int64. On little-endian machines by writing each value's two 32-bit words (its
 *  sign in the high one), without making a BigInt per value. */
export function int64Of(values: Int32Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
    return out;
  }
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    words[2 * i] = v;
    words[2 * i + 1] = v >> 31;
  }
  return out;
}

function metadataOf(session: ort.InferenceSession, which: 'input' | 'output'): TensorInfo[] {
  const meta = which === 'input' ? session.inputMetadata : session.outputMetadata;
  return meta.map((m) => ({
    name: m.name,
    type: m.isTensor ? m.type : 'non-tensor',
    shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' ? d : String(d))) : [],
  }));
}

/** Opens the model, checks it and probes its output dimension. Throws ModelLoadError naming the file. */
export async function openModelSession(s: SessionSettings): Promise<ModelSession> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(s.modelFile, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: s.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new ModelLoadError(
      s.modelFile,
      `onnxruntime cannot load it (corrupt, truncated or not an ONNX model?): ${(e as Error).message}`,
      { cause: e },
    );
  }
  try {
    const inputs = session.inputNames;
    checkInputs(metadataOf(session, 'input'), s.modelFile);
    const idMeta = session.inputMetadata.find((m) => m.name === 'input_ids');
    const idType = idMeta && idMeta.isTensor ? idMeta.type : 'int64';
    if (idType !== 'int64' && idType !== 'int32') {
      throw new ModelLoadError(s.modelFile, `input_ids has type ${idType}; int64 or int32 expected`);
    }
    const hasTokenTypes = inputs.includes('token_type_ids');
    const output = chooseTokenOutput(metadataOf(session, 'output'), s.output, s.modelFile).name;

    const feeds = (rows: readonly (readonly number[])[]): Record<string, ort.Tensor> => {
      const b = rows.length;
      const len = Math.max(...rows.map((r) => r.length));
      const ids = new Int32Array(b * len).fill(s.padId);
      const mask = new Int32Array(b * len);
      rows.forEach((row, r) => {
        ids.set(row, r * len);
        mask.fill(1, r * len, r * len + row.length);
      });
      const tensor = (values: Int32Array): ort.Tensor =>
        idType === 'int64'
          ? new ort.Tensor('int64', int64Of(values), [b, len])
          : new ort.Tensor('int32', values, [b, len]);
      const f: Record<string, ort.Tensor> = { input_ids: tensor(ids), attention_mask: tensor(mask) };
      if (hasTokenTypes) f.token_type_ids = tensor(new Int32Array(b * len));
      return f;
    };

    let dimension = 0;
    let released = false;
    const run = async (rows: readonly (readonly number[])[]): Promise<RunResult> => {
      if (released) throw new EmbedderError('the embedder is closed');
      const out = (await session.run(feeds(rows), [output]))[output];
      if (out === undefined || out.type !== 'float32' || out.dims.length !== 3) {
        throw new EmbedderError(`model output ${output} is not a float32 [batch, sequence, dim] tensor`);
      }
      const [ob, seqLen, od] = out.dims as [number, number, number];
      if (ob !== rows.length || (dimension !== 0 && od !== dimension)) {
        throw new EmbedderError(`model output ${output} has shape [${out.dims.join(', ')}], unexpected`);
      }
      return { data: out.data as Float32Array, seqLen };
    };

    // Probe: one tiny forward pass reads the output dimension from the model itself and proves it runs.
    try {
      const probe = await run([s.probeIds]);
      dimension = probe.data.length / probe.seqLen;
    } catch (e) {
      throw new ModelLoadError(s.modelFile, `a test forward pass failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return {
      output,
      dimension,
      run,
      async release() {
        if (released) return;
        released = true;
        await session.release();
      },
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}
