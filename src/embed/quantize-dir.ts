/**
 * `datastate quantize IN_DIR OUT_DIR`: a model directory whose model.onnx is the dynamic int8 quantization of
 * IN_DIR's (quantize.ts), with every other file (tokenizer.json, vocab.txt, ...) copied and embedder.json
 * saying what was done. The embedder loads it like any other model directory; its fingerprint differs (the
 * model file's digest does), so pointing a dataset at it re-embeds. Written atomically: into a sibling temp
 * directory, renamed onto OUT_DIR, which must not exist yet.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FINGERPRINT_CACHE_FILE, fileDigests } from './fingerprint.ts';
import { CONFIG_FILE, MODEL_FILE } from './model-dir.ts';
import { QuantizeError, quantizeModel, type QuantizeOptions, type QuantizeSummary } from './quantize.ts';

export interface QuantizeDirResult extends QuantizeSummary {
  outDir: string;
  /** Files copied unchanged. */
  copied: string[];
}

/** Quantizes IN_DIR's model.onnx into the new model directory OUT_DIR. Throws QuantizeError on bad input. */
export async function quantizeModelDir(
  inDir: string,
  outDir: string,
  options: QuantizeOptions = {},
): Promise<QuantizeDirResult> {
  const src = path.resolve(inDir);
  const target = path.resolve(outDir);
  if (src === target) throw new QuantizeError('OUT_DIR must differ from IN_DIR');
  const modelFile = path.join(src, MODEL_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(modelFile);
  } catch (e) {
    throw new QuantizeError(`${modelFile}: cannot read: ${(e as Error).message}`);
  }
  if (existsSync(target))
    throw new QuantizeError(`${target} already exists: give a new directory (nothing was written)`);
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await readFile(path.join(src, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new QuantizeError(`${path.join(src, CONFIG_FILE)}: cannot read: ${(e as Error).message}`);
  }
  const { bytes: out, summary } = quantizeModel(bytes, options);
  const sourceDigest = (await fileDigests(src, [MODEL_FILE]))[MODEL_FILE]!;

  const tmp = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(path.dirname(target), { recursive: true });
  await mkdir(tmp);
  try {
    await writeFile(path.join(tmp, MODEL_FILE), out);
    const copied: string[] = [];
    const files: Record<string, number> = { [MODEL_FILE]: out.length };
    for (const e of await readdir(src, { withFileTypes: true })) {
      if (!e.isFile() || [MODEL_FILE, CONFIG_FILE, FINGERPRINT_CACHE_FILE].includes(e.name)) continue;
      await copyFile(path.join(src, e.name), path.join(tmp, e.name));
      copied.push(e.name);
      files[e.name] = (await stat(path.join(src, e.name))).size;
    }
    const how = `dynamic int8 (${summary.scheme} weights, ${summary.perChannel ? 'per-channel' : 'per-tensor'} scales; uint8 activations quantized at run time)`;
    const quantized: Record<string, unknown> = {
      ...config,
      description: [config.description, `Quantized by datastate quantize: ${how}.`]
        .filter((x) => typeof x === 'string' && x !== '')
        .join(' '),
      generator: {
        quantize: {
          scheme: summary.scheme,
          perChannel: summary.perChannel,
          nodes: summary.quantizedNodes,
          sourceModelSha256: sourceDigest,
        },
        ...(config.generator !== undefined && { source: config.generator }),
      },
      files,
    };
    if (config.modelId !== undefined) quantized.modelId = `${String(config.modelId)}-int8`;
    await writeFile(path.join(tmp, CONFIG_FILE), JSON.stringify(quantized, null, 2) + '\n');
    await rename(tmp, target);
    return { ...summary, outDir: target, copied };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof QuantizeError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new QuantizeError(`${target} already exists: give a new directory (nothing was written)`);
    throw e;
  }
}
