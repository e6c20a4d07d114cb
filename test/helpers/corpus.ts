/**
 * The real PMC corpus for tests and benchmarks. It is never committed: it lives beside the repository in
 * ../shared/corpus (in CI, a fresh clone with shared/ beside it), or wherever DATASTATE_PMC_CORPUS points.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x as extractTar } from 'tar';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Facts about the shared archive, checked by test/e2e/pmc-archive.test.ts. */
export const PMC_CORPUS_FACTS = { articles: 1536, withAbstract: 1463, withoutAbstract: 73 } as const;

/** Path of pmc-oa-1536.tar.gz: $DATASTATE_PMC_CORPUS, else <repo>/../shared/corpus/pmc-oa-1536.tar.gz. */
export function pmcCorpusPath(): string {
  return resolve(
    process.env.DATASTATE_PMC_CORPUS ?? join(REPO_ROOT, '..', 'shared', 'corpus', 'pmc-oa-1536.tar.gz'),
  );
}

/** Throws a clear error when the corpus is not there (rather than letting a test fail obscurely). */
export function requirePmcCorpus(): string {
  const p = pmcCorpusPath();
  if (!existsSync(p)) {
    throw new Error(
      `PMC test corpus not found at ${p}: put pmc-oa-1536.tar.gz in ../shared/corpus beside the repository or set DATASTATE_PMC_CORPUS`,
    );
  }
  return p;
}

let extracted: Promise<string> | undefined;

/**
 * The archive extracted into a temporary directory, once per machine and archive version (keyed by size and
 * mtime; reused by later runs). Safe when several test processes ask at once: each extracts into its own
 * directory and renames it into place; the loser throws its copy away.
 */
export function extractPmcCorpus(): Promise<string> {
  extracted ??= (async () => {
    const archive = requirePmcCorpus();
    const st = statSync(archive);
    const dir = join(tmpdir(), `datastate-pmc-${st.size}-${Math.floor(st.mtimeMs)}`);
    if (existsSync(dir)) return dir;
    const work = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(work, { recursive: true });
    try {
      await extractTar({ file: archive, cwd: work, strict: true });
      await rename(work, dir);
    } catch (e) {
      await rm(work, { recursive: true, force: true });
      if (!existsSync(dir)) throw e;
    }
    return dir;
  })();
  return extracted;
}
