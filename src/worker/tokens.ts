/**
 * Bearer tokens for the worker API. Tokens come from a file (a mounted Secret: one token per line) that is
 * re-read when it changes, so a token is rotated without downtime: add the new token next to the old one,
 * let the callers switch, then remove the old one. Comparison is constant-time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenSet {
  private digests: Buffer[] = [];
  private loadedFrom: { mtimeMs: number; size: number } | null = null;
  private readonly file: string | undefined;

  constructor(options: { file?: string; tokens?: string[] }) {
    this.file = options.file;
    if (options.tokens) this.digests = options.tokens.filter(Boolean).map(digest);
    if (this.file) this.reload(true);
    if (!this.digests.length)
      throw new Error('the worker needs at least one bearer token (--token-file or DATASTATE_WORKER_TOKEN)');
  }

  /** Re-reads the token file when it changed (cheap stat otherwise). */
  private reload(force = false): void {
    if (!this.file) return;
    let st;
    try {
      st = statSync(this.file);
    } catch (e) {
      if (force)
        throw new Error(`cannot read the token file ${this.file}: ${(e as Error).message}`, { cause: e });
      return; // a Secret volume swaps its files atomically; keep the last good set meanwhile
    }
    if (
      !force &&
      this.loadedFrom &&
      this.loadedFrom.mtimeMs === st.mtimeMs &&
      this.loadedFrom.size === st.size
    )
      return;
    const tokens = readFileSync(this.file, 'utf8')
      .split(/\r?\n/)
      .map((t) => t.trim())
      .filter(Boolean);
    if (tokens.length) this.digests = tokens.map(digest);
    this.loadedFrom = { mtimeMs: st.mtimeMs, size: st.size };
  }

  /** True when the Authorization header carries one of the tokens. */
  check(authorization: string | undefined): boolean {
    this.reload();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return false;
    const d = digest(m[1]!);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(d, known) || ok; // no early exit
    return ok;
  }
}
