/** Errors that mean bad configuration (exit code 2) rather than a dataset that is not ready (exit code 1). */
import { StoreConfigError, sqliteCode } from '../store/errors.ts';

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
  return sqliteCode(e) === 26 || /file is not a database/i.test(String((e as { message?: string })?.message));
}

export function isConfigError(e: unknown): boolean {
  return (
    e instanceof StoreConfigError ||
    (e instanceof Error && CONFIG_ERROR_NAMES.has(e.name)) ||
    isNotADatabase(e)
  );
}
