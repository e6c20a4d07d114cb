export { ensureDemoModel, BERT_BASE_UNCASED_TOKENIZER_DIR, DEFAULT_SEED } from './demo-model.ts';
export type { GenerateModelOptions, ModelPreset, TokenizerChoice } from './demo-model.ts';
