/**
 * Document sources: where missing documents come from. openSource() turns a source spec (the resource's
 * spec.source, or CLI flags) into a DocumentSource; see docs/corpus.md.
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { CorpusError, describeError } from './errors.ts';
import { JsonlSource } from './jsonl.ts';
import { PmcXmlSource, type PmcLayout } from './pmc.ts';
import { SOURCE_TYPES, type CorpusSource, type SourceType } from './source.ts';
import { MAX_SYNTHETIC_DOCS, SyntheticSource } from './synthetic.ts';

export { CorpusError, isCorpusError, type CorpusErrorCode } from './errors.ts';
export { JsonlSource, parseJsonlLine } from './jsonl.ts';
export { parseJatsFile } from './jats.ts';
export { DEFAULT_MAX_FILE_BYTES, DEFAULT_WINDOW_BYTES, PmcXmlSource, isArticleFile } from './pmc.ts';
export { SOURCE_TYPES, type CorpusSource, type SourceStats, type SourceType } from './source.ts';
export {
  DEFAULT_SYNTHETIC_SEED,
  MAX_SYNTHETIC_DOCS,
  SYNTHETIC_TITLE_PREFIX,
  SyntheticSource,
  syntheticDocId,
  syntheticDocument,
} from './synthetic.ts';

export interface SourceSpec {
  /** Inferred from path when left out; with neither type nor path, the synthetic corpus. */
  type?: SourceType;
  /** A directory, .tar.gz/.tgz/.tar or .xml/.nxml file (pmc-xml); a .jsonl/.ndjson[.gz] file (jsonl). */
  path?: string;
  /** synthetic: the generator's seed (default 42). */
  seed?: number;
  /** synthetic: how many documents there are (default and maximum 999,999). */
  count?: number;
  /** pmc-xml archives: most uncompressed XML held in memory per pass (default 128 MiB, DEFAULT_WINDOW_BYTES). */
  windowBytes?: number;
}

const ARCHIVE = /\.(tar\.gz|tgz|tar)$/i;
const XML_FILE = /\.n?xml$/i;
const JSONL = /\.(jsonl|ndjson)(\.gz)?$/i;

/** The source type a path implies: a directory, archive or XML file is pmc-xml; a .jsonl file is jsonl. */
export function inferSourceType(path: string, stats?: Stats): 'pmc-xml' | 'jsonl' | undefined {
  if (stats?.isDirectory()) return 'pmc-xml';
  if (ARCHIVE.test(path) || XML_FILE.test(path)) return 'pmc-xml';
  if (JSONL.test(path)) return 'jsonl';
  return undefined;
}

function statPath(path: string): Stats {
  let s: Stats;
  try {
    s = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CorpusError('SOURCE_NOT_FOUND', `source path does not exist: ${path}`, { path, cause: e });
    throw new CorpusError('SOURCE_UNREADABLE', `cannot read source path ${path}: ${describeError(e)}`, {
      path,
      cause: e,
    });
  }
  try {
    accessSync(path, s.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
  } catch (e) {
    throw new CorpusError('SOURCE_UNREADABLE', `cannot read source path ${path}: ${describeError(e)}`, {
      path,
      cause: e,
    });
  }
  if (!s.isDirectory() && !s.isFile()) {
    throw new CorpusError('SOURCE_UNREADABLE', `source path is neither a file nor a directory: ${path}`, {
      path,
    });
  }
  return s;
}

/**
 * Open a document source. Checks the spec and that the path exists and can be read, and throws a
 * CorpusError (code SOURCE_SPEC, SOURCE_NOT_FOUND or SOURCE_UNREADABLE) with a message for the user
 * when not; reading itself happens in items(), which throws CorpusError(SOURCE_INVALID) only when the
 * source as a whole is damaged (a corrupt archive) and otherwise yields bad files as { ok: false }.
 */
export function openSource(spec: SourceSpec = {}): CorpusSource {
  const { type, path } = spec;
  if (type !== undefined && !SOURCE_TYPES.includes(type)) {
    throw new CorpusError(
      'SOURCE_SPEC',
      `unknown source type "${String(type)}" (expected one of ${SOURCE_TYPES.join(', ')})`,
    );
  }
  if (type === 'synthetic' || (type === undefined && path === undefined)) {
    if (path !== undefined) {
      throw new CorpusError(
        'SOURCE_SPEC',
        `the synthetic source takes no path (got ${path}); for files set type pmc-xml or jsonl, or leave type out to infer it`,
        { path },
      );
    }
    const count = spec.count ?? MAX_SYNTHETIC_DOCS;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SYNTHETIC_DOCS) {
      throw new CorpusError(
        'SOURCE_SPEC',
        `synthetic count must be an integer from 1 to ${MAX_SYNTHETIC_DOCS}, got ${count}`,
      );
    }
    if (spec.seed !== undefined && !Number.isSafeInteger(spec.seed)) {
      throw new CorpusError('SOURCE_SPEC', `synthetic seed must be an integer, got ${spec.seed}`);
    }
    return new SyntheticSource({ count, ...(spec.seed === undefined ? {} : { seed: spec.seed }) });
  }
  if (path === undefined || path.trim() === '') {
    throw new CorpusError('SOURCE_SPEC', `source type ${type} needs a path`);
  }
  const abs = resolve(path);
  const st = statPath(abs);
  const t = type ?? inferSourceType(abs, st);
  if (t === undefined) {
    throw new CorpusError(
      'SOURCE_UNREADABLE',
      `cannot tell the source type of ${abs} from its name (expected a directory, .tar.gz, .tgz, .tar, .xml, .nxml, .jsonl or .jsonl.gz); set the source type`,
      { path: abs },
    );
  }
  if (t === 'jsonl') {
    if (st.isDirectory())
      throw new CorpusError('SOURCE_SPEC', `a jsonl source is one file, but ${abs} is a directory`, {
        path: abs,
      });
    return new JsonlSource(abs);
  }
  if (spec.windowBytes !== undefined && !(Number.isFinite(spec.windowBytes) && spec.windowBytes > 0)) {
    throw new CorpusError('SOURCE_SPEC', `windowBytes must be a positive number, got ${spec.windowBytes}`);
  }
  const layout: PmcLayout = st.isDirectory() ? 'directory' : XML_FILE.test(abs) ? 'file' : 'archive';
  return new PmcXmlSource({
    path: abs,
    layout,
    ...(spec.windowBytes === undefined ? {} : { windowBytes: spec.windowBytes }),
  });
}
