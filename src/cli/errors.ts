/** Errors that mean bad configuration (exit code 2) rather than a dataset that is not ready (exit code 1). */
import { StoreConfigError } from '../store/errors.ts';

const CONFIG_ERROR_NAMES = new Set([
  'ValidationError',
  'StoreConfigError',
  'CorpusError',
  'ModelLoadError',
  'DimensionMismatchError',
  'EmbedderOptionsError',
  'QuantizeError',
]);

/** SQLite's NOTADB (26): the file given as the database is something else. */
function isNotADatabase(e: unknown): boolean {
  const x = e as { errcode?: number; message?: string };
  return (
    (x?.errcode !== undefined && (x.errcode & 0xff) === 26) ||
    /file is not a database/i.test(String(x?.message))
  );
}

export function isConfigError(e: unknown): boolean {
  return (
    e instanceof StoreConfigError ||
    (e instanceof Error && CONFIG_ERROR_NAMES.has(e.name)) ||
    isNotADatabase(e)
  );
}
