/**
 * The errors a controller pass ends with, and what the pass wrapper (DatasetStateController.handle) does with
 * each: a TerminalError is written to status and not retried until the object changes; a
 * DatabaseUnavailableError and every other error are written to status and retried with the key's backoff.
 */

/** Retrying cannot help until the DatasetState itself changes (a new generation). */
export class TerminalError extends Error {
  /** The Event reason, e.g. InvalidSpec. */
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}

/** The spec does not validate: fix the object. */
export class InvalidSpecError extends TerminalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidSpec', `invalid spec: ${message}`, options);
    this.name = 'InvalidSpecError';
  }
}
