/**
 * Generates a synthetic (random-weight) BERT-shaped ONNX encoder + tokenizer into a model directory.
 *
 *   node scripts/gen-model.ts [--out DIR] [--preset bert-base|small|distilbert|minilm-l6|colbertv2] [--tokenizer bert-base-uncased|tiny]
 *                             [--seed N] [--hidden N] [--layers N] [--heads N] [--intermediate N]
 *                             [--max-positions N] [--projection N] [--normalize]
 *
 * Default: the BERT-base-shaped demo model into .datastate/models/synthetic-bert-base. Does nothing when the
 * same model is already there. See docs/embedding.md.
 */
import { parseArgs } from 'node:util';
import {
  ensureDemoModel,
  type GenerateModelOptions,
  type ModelPreset,
  type TokenizerChoice,
} from '../src/embed/index.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: '.datastate/models/synthetic-bert-base' },
    preset: { type: 'string', default: 'bert-base' },
    tokenizer: { type: 'string', default: 'bert-base-uncased' },
    seed: { type: 'string' },
    hidden: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    intermediate: { type: 'string' },
    'max-positions': { type: 'string' },
    projection: { type: 'string' },
    normalize: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'usage: node scripts/gen-model.ts [--out DIR] [--preset bert-base|small|distilbert|minilm-l6|colbertv2]\n' +
      '         [--tokenizer bert-base-uncased|tiny]\n' +
      '         [--seed N] [--hidden N] [--layers N] [--heads N] [--intermediate N] [--max-positions N]\n' +
      '         [--projection N] [--normalize]',
  );
  process.exit(0);
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) {
    console.error(`--${name} must be an integer`);
    process.exit(2);
  }
  return n;
}

const opts: GenerateModelOptions = {
  preset: values.preset as ModelPreset,
  tokenizer: values.tokenizer as TokenizerChoice,
  ...(values.normalize && { normalize: true }),
  onProgress: (m) => console.error(m),
};
const seed = int('seed', values.seed);
if (seed !== undefined) opts.seed = seed;
for (const [flag, key] of [
  ['hidden', 'hidden'],
  ['layers', 'layers'],
  ['heads', 'heads'],
  ['intermediate', 'intermediate'],
  ['max-positions', 'maxPositions'],
  ['projection', 'projection'],
] as const) {
  const n = int(flag, values[flag]);
  if (n !== undefined) opts[key] = n;
}

try {
  const dir = await ensureDemoModel(values.out, opts);
  console.log(dir);
} catch (e) {
  console.error(`gen-model: ${(e as Error).message}`);
  process.exit(1);
}
