/**
 * Errors that stop a document source as a whole (as opposed to one bad file, which is yielded as
 * { ok: false } and skipped). The CLI maps a CorpusError to exit code 2.
 */

export type CorpusErrorCode =
  /** The path does not exist. */
  | 'SOURCE_NOT_FOUND'
  /** The path exists but cannot be read, or is not a kind of source we know (e.g. an unknown extension). */
  | 'SOURCE_UNREADABLE'
  /** The source as a whole is damaged (e.g. a corrupt or truncated archive), or changed while being read. */
  | 'SOURCE_INVALID'
  /** The source spec itself is wrong (unknown type, a path given to the synthetic corpus, ...). */
  | 'SOURCE_SPEC';

export class CorpusError extends Error {
  readonly code: CorpusErrorCode;
  /** The path the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(code: CorpusErrorCode, message: string, options?: { path?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CorpusError';
    this.code = code;
    this.path = options?.path;
  }
}

export function isCorpusError(e: unknown): e is CorpusError {
  return e instanceof CorpusError;
}

/** A short, one-line description of an unknown thrown value. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
