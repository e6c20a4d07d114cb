/** Errors that mean bad configuration (exit code 2) rather than a dataset that is not ready (exit code 1). */
import { StoreConfigError } from '../store/errors.ts';

const CONFIG_ERROR_NAMES = new Set([
  'ValidationError',
  'StoreConfigError',
  'CorpusError',
  'ModelLoadError',
  'DimensionMismatchError',
  'EmbedderOptionsError',
]);

export function isConfigError(e: unknown): boolean {
  return e instanceof StoreConfigError || (e instanceof Error && CONFIG_ERROR_NAMES.has(e.name));
}
