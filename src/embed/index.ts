/**
 * The embedding adapter: a real token embedder (onnxruntime-node + a HuggingFace tokenizer) implementing the
 * core's Embedder port, and the generator of synthetic model directories. See docs/embedding.md.
 */
export { loadEmbedder, modelFingerprint, l2normalize } from './onnx-embedder.ts';
export type { EmbedderOptions, EmbedderInfo, EmbedderStats, TokenEmbedder } from './onnx-embedder.ts';
export { DimensionMismatchError, EmbedderError, EmbedderOptionsError, ModelLoadError } from './errors.ts';
export { ensureDemoModel, BERT_BASE_UNCASED_TOKENIZER_DIR, DEFAULT_SEED } from './demo-model.ts';
export type { GenerateModelOptions, ModelPreset, TokenizerChoice } from './demo-model.ts';
export { loadTokenizer } from './tokenizer.ts';
export type { LoadedTokenizer, Pieces } from './tokenizer.ts';
export { CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, VOCAB_FILE } from './model-dir.ts';
export type { ModelDirConfig } from './model-dir.ts';
export { planWindows, assignOwners, groupBatches } from './plan.ts';
export type { Window, BatchLimits } from './plan.ts';
export { inspectModelDir, modelReportText } from './inspect.ts';
export type { ModelReport } from './inspect.ts';
export { MODEL_PRESETS } from './demo-model.ts';
export { CONVENTION_CHOICES } from './conventions.ts';
export type { ConventionChoice, ColbertConventions } from './conventions.ts';
