/**
 * A CommonJS package loaded on first use instead of at start-up, for code that needs it synchronously (a
 * dynamic import() would make the caller async). The CLI uses it so that a pass that never draws a progress
 * bar or reads a YAML manifest does not load cli-progress or yaml (docs/runtime.md, "Start-up").
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** `() => require(specifier)`, resolved and loaded once, on the first call. */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}
