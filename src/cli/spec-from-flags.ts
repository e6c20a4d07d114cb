/**
 * Turns command-line flags (and an optional manifest) into a validated DatasetState spec.
 */
import { readFileSync } from 'node:fs';
import type { DatasetStateSpec } from '../api/schema.ts';
import { parseManifest, parseSpec, ValidationError } from '../api/validate.ts';
import { dialectOfUrl } from '../store/index.ts';

export interface EnsureFlags {
  file?: string;
  targetState?: string;
  docCount?: string;
  autoFix?: boolean;
  validateOnly?: boolean;
  dryRun?: boolean;
  forceRegenerate?: boolean;
  source?: string;
  db?: string;
  model?: string;
  batchSize?: string;
  orderBy?: string;
  seed?: string;
  dimension?: string;
  vectorPrecision?: string;
}

function integerFlag(name: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim()))
    throw new ValidationError([`--${name}: must be an integer (got ${JSON.stringify(value)})`]);
  return Number(value);
}

export function specFromFlags(
  flags: EnsureFlags,
  defaultMode: DatasetStateSpec['mode'] = 'AutoFix',
): { spec: DatasetStateSpec; name: string } {
  const modes = [
    flags.autoFix && 'AutoFix',
    flags.validateOnly && 'ValidateOnly',
    flags.dryRun && 'DryRun',
  ].filter(Boolean);
  if (modes.length > 1)
    throw new ValidationError(['--auto-fix, --validate-only and --dry-run exclude each other: give one']);
  let raw: Record<string, unknown> = {};
  let name = 'cli';
  if (flags.file) {
    let text: string;
    try {
      text = readFileSync(flags.file, 'utf8');
    } catch (e) {
      throw new ValidationError([`cannot read ${flags.file}: ${(e as Error).message}`]);
    }
    const manifest = parseManifest(text, flags.file);
    raw = structuredClone(manifest.spec) as unknown as Record<string, unknown>;
    name = manifest.metadata.name;
  } else if (flags.docCount === undefined) {
    throw new ValidationError(['--doc-count: is required (or give a manifest with -f)']);
  }
  const sub = (key: string) => (raw[key] ??= {}) as Record<string, unknown>;
  if (flags.targetState !== undefined) raw.targetState = flags.targetState;
  if (flags.docCount !== undefined) raw.docCount = integerFlag('doc-count', flags.docCount);
  if (modes.length) raw.mode = modes[0];
  else if (!flags.file) raw.mode = defaultMode;
  if (flags.forceRegenerate) sub('healing').forceRegenerate = true;
  if (flags.batchSize !== undefined)
    sub('healing').batchSize =
      flags.batchSize === 'auto' ? 'auto' : integerFlag('batch-size', flags.batchSize);
  if (flags.source !== undefined) {
    if (flags.source === 'synthetic') raw.source = { type: 'synthetic' };
    else raw.source = { path: flags.source }; // the corpus module infers the type from the path
  }
  if (flags.db !== undefined) {
    const db = sub('database');
    db.url = flags.db;
    delete db.connectionSecretRef;
    const dialect = dialectOfUrl(flags.db);
    if (dialect) db.dialect = dialect;
  }
  const envUrl = process.env.DATASTATE_DB_URL?.trim();
  const declared = raw.database as
    { url?: unknown; connectionSecretRef?: unknown; dialect?: unknown } | undefined;
  if (
    flags.db === undefined &&
    envUrl &&
    !declared?.url &&
    !declared?.connectionSecretRef &&
    !declared?.dialect
  ) {
    // DATASTATE_DB_URL keeps the password off the command line: its scheme picks the dialect, the store reads it.
    const dialect = dialectOfUrl(envUrl);
    if (dialect && dialect !== 'sqlite') sub('database').dialect = dialect;
  }
  if (flags.vectorPrecision !== undefined) sub('database').vectorPrecision = flags.vectorPrecision;
  if (flags.model !== undefined) sub('embedding').modelPath = flags.model;
  if (flags.dimension !== undefined) sub('embedding').dimension = integerFlag('dimension', flags.dimension);
  if (flags.orderBy !== undefined) sub('selection').orderBy = flags.orderBy;
  if (flags.seed !== undefined) sub('selection').seed = integerFlag('seed', flags.seed);
  try {
    return { spec: parseSpec(raw, 'spec'), name };
  } catch (e) {
    if (!(e instanceof ValidationError) || flags.file) throw e;
    // Name the flag the user typed rather than the spec field it fills.
    throw new ValidationError(
      e.problems.map((p) => {
        const hit = Object.entries(FLAG_OF_FIELD).find(([field]) => p.startsWith(`${field}:`));
        return hit ? `${hit[1]}${p.slice(hit[0].length)}` : p;
      }),
    );
  }
}

const FLAG_OF_FIELD: Record<string, string> = {
  'spec.targetState': '--target-state',
  'spec.docCount': '--doc-count',
  'spec.healing.batchSize': '--batch-size',
  'spec.selection.orderBy': '--order-by',
  'spec.selection.seed': '--seed',
  'spec.embedding.dimension': '--dimension',
  'spec.database.url': '--db',
  'spec.source.path': '--source',
  'spec.embedding.modelPath': '--model',
  'spec.database.vectorPrecision': '--vector-precision',
};
