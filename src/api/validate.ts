/**
 * Defaults and validation for DatasetState specs and manifests, from the schema in ./schema.ts.
 * Every error names the field and the rule it breaks, e.g. `spec.docCount: must be >= 1 (got 0)`.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import type * as Yaml from 'yaml';
import { lazyRequire } from '../core/lazy-require.ts';
import {
  API_VERSION,
  KIND,
  DEFAULT_COLUMNS,
  ManifestSchema,
  SpecSchema,
  TablesSchema,
  type DatasetStateManifest,
  type DatasetStateSpec,
} from './schema.ts';
import { identifierProblem } from './identifiers.ts';

/** Loaded when a manifest is parsed (-f, the controller's resources): flag-only runs do not load it. */
const yaml = lazyRequire<typeof Yaml>('yaml');

/** Bad input: a manifest, spec or flag that breaks a rule. The CLI maps it to exit code 2. */
export class ValidationError extends Error {
  readonly problems: string[];
  constructor(problems: string[], context?: string) {
    super((context ? `${context}: ` : '') + problems.join('; '));
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

function fieldPath(prefix: string, pointer: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = prefix;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

function literalValues(schema: TSchema): unknown[] | null {
  if (schema[Kind] !== 'Union') return null;
  const members = (schema as unknown as { anyOf: TSchema[] }).anyOf;
  if (!members.every((m) => m[Kind] === 'Literal')) return null;
  return members.map((m) => (m as unknown as { const: unknown }).const);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function describe(error: ValueError): string {
  const s = error.schema as TSchema & Record<string, unknown>;
  const values = literalValues(s);
  if (values)
    return `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')} (got ${show(error.value)})`;
  if (s[Kind] === 'Union') {
    const alternatives = (s as unknown as { anyOf: TSchema[] }).anyOf.map((m) =>
      m[Kind] === 'Literal' ? JSON.stringify((m as unknown as { const: unknown }).const) : describeType(m),
    );
    return `must be ${alternatives.join(' or ')} (got ${show(error.value)})`;
  }
  if (error.value === undefined) return 'is required';
  switch (s[Kind]) {
    case 'Integer':
    case 'Number': {
      if (typeof error.value !== 'number' || (s[Kind] === 'Integer' && !Number.isInteger(error.value)))
        return `must be ${s[Kind] === 'Integer' ? 'an integer' : 'a number'} (got ${show(error.value)})`;
      if (typeof s.minimum === 'number' && error.value < s.minimum)
        return `must be >= ${s.minimum} (got ${error.value})`;
      if (typeof s.maximum === 'number' && error.value > s.maximum)
        return `must be <= ${s.maximum} (got ${error.value})`;
      break;
    }
    case 'String': {
      if (typeof error.value !== 'string') return `must be a string (got ${show(error.value)})`;
      if (typeof s.minLength === 'number' && error.value.length < s.minLength) return 'must not be empty';
      if (typeof s.pattern === 'string') return `must match ${s.pattern} (got ${show(error.value)})`;
      break;
    }
    case 'Boolean':
      return `must be true or false (got ${show(error.value)})`;
    case 'Literal':
      return `must be ${JSON.stringify(s.const)} (got ${show(error.value)})`;
    case 'Object':
      if (typeof error.value !== 'object' || error.value === null || Array.isArray(error.value))
        return `must be a mapping (got ${show(error.value)})`;
      break;
  }
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

function describeType(s: TSchema): string {
  const min = (s as { minimum?: number }).minimum;
  if (s[Kind] === 'Integer') return min === undefined ? 'an integer' : `an integer >= ${min}`;
  return String(s[Kind]).toLowerCase();
}

function collectErrors(schema: TSchema, value: unknown, prefix: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    // Unknown properties come back as an error on the object; name the property itself.
    if (error.message.includes('Unexpected property')) {
      const key = error.path;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(`${fieldPath(prefix, key)}: unknown field`);
      }
      continue;
    }
    const path = fieldPath(prefix, error.path);
    // Report one problem per field: the first is the most specific.
    if ([...seen].some((p) => p === path || path.startsWith(p + '.') || path.startsWith(p + '['))) continue;
    seen.add(path);
    out.push(`${path}: ${describe(error)}`);
  }
  return out;
}

function crossFieldProblems(spec: DatasetStateSpec, prefix: string): string[] {
  const p = prefix ? `${prefix}.` : '';
  const problems: string[] = [];
  if (spec.workers.minReplicas > spec.workers.maxReplicas)
    problems.push(
      `${p}workers.minReplicas: must be <= workers.maxReplicas (${spec.workers.minReplicas} > ${spec.workers.maxReplicas})`,
    );
  if (spec.healing.backoff.initialMs > spec.healing.backoff.maxMs)
    problems.push(`${p}healing.backoff.initialMs: must be <= healing.backoff.maxMs`);
  if (spec.database.url && spec.database.connectionSecretRef)
    problems.push(`${p}database: set url or connectionSecretRef, not both`);
  if (spec.source.type === 'synthetic' && spec.source.path)
    problems.push(`${p}source.path: must not be set when source.type is "synthetic"`);
  if ((spec.source.type === 'pmc-xml' || spec.source.type === 'jsonl') && !spec.source.path)
    problems.push(`${p}source.path: is required when source.type is ${JSON.stringify(spec.source.type)}`);
  if (
    spec.embedding.stride !== undefined &&
    spec.embedding.maxTokens !== undefined &&
    spec.embedding.stride >= spec.embedding.maxTokens
  )
    problems.push(
      `${p}embedding.stride: must be < embedding.maxTokens (${spec.embedding.stride} >= ${spec.embedding.maxTokens})`,
    );
  if (spec.database.vectorPrecision === 'float16' && spec.database.dialect === 'iris')
    problems.push(
      `${p}database.vectorPrecision: float16 is not supported on IRIS (its VECTOR type has no half-precision element type); use float32`,
    );
  problems.push(...nameProblems(spec, p));
  return problems;
}

/**
 * The database names beyond their pattern: no SQL reserved word, no column named twice in one table, and the
 * source and token tables distinct (datastate keeps its ledger apart from the consumer's tables).
 */
function nameProblems(spec: DatasetStateSpec, p: string): string[] {
  const problems: string[] = [];
  const db = spec.database;
  const check = (field: string, name: string) => {
    const problem = identifierProblem(name);
    if (problem) problems.push(`${p}database.${field}: ${problem}`);
  };
  check('schema', db.schema);
  // In the schema's order, so the field reported is the later one (the one most likely set by hand).
  const tables = Object.keys(TablesSchema.properties).map(
    (k) => [k, db.tables[k as keyof typeof db.tables]] as const,
  );
  for (const [key, name] of tables) check(`tables.${key}`, name);
  for (const [i, [key, name]] of tables.entries()) {
    const other = tables.slice(0, i).find(([, n]) => n.toLowerCase() === name.toLowerCase());
    if (other)
      problems.push(
        `${p}database.tables.${key}: names the same table as tables.${other[0]} (${JSON.stringify(name)})`,
      );
  }
  for (const [table, defaults] of Object.entries(DEFAULT_COLUMNS)) {
    const columns = db.columns[table as keyof typeof db.columns] as Record<string, string>;
    const seen = new Map<string, string>();
    for (const key of Object.keys(defaults)) {
      const name = columns[key]!;
      check(`columns.${table}.${key}`, name);
      const first = seen.get(name.toLowerCase());
      if (first)
        problems.push(
          `${p}database.columns.${table}.${key}: names the same column as columns.${table}.${first} (${JSON.stringify(name)})`,
        );
      else seen.set(name.toLowerCase(), key);
    }
  }
  return problems;
}

/** A table name given as schema.table gets its own advice: the schema goes in database.schema. */
function qualifiedNameHints(problems: string[], value: unknown, prefix: string): string[] {
  const p = prefix ? `${prefix}.` : '';
  const tables = (value as { database?: { tables?: Record<string, unknown> } }).database?.tables ?? {};
  return problems.map((problem) => {
    for (const [key, name] of Object.entries(tables))
      if (
        problem.startsWith(`${p}database.tables.${key}:`) &&
        typeof name === 'string' &&
        /^[A-Za-z_]\w*\.[A-Za-z_]\w*$/.test(name)
      ) {
        const [schema, table] = name.split('.');
        return `${p}database.tables.${key}: give the table's name alone and its schema in database.schema (got ${JSON.stringify(name)}: write tables.${key}: ${table} and schema: ${schema})`;
      }
    return problem;
  });
}

/** Fills in defaults (on a copy) and validates. Throws ValidationError naming every bad field. */
export function parseSpec(input: unknown, prefix = 'spec'): DatasetStateSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ValidationError([`${prefix || '(root)'}: must be a mapping`]);
  const value = Value.Default(SpecSchema, structuredClone(input));
  const problems = qualifiedNameHints(collectErrors(SpecSchema, value, prefix), value, prefix);
  if (problems.length) throw new ValidationError(problems);
  const spec = value as DatasetStateSpec;
  const cross = crossFieldProblems(spec, prefix);
  if (cross.length) throw new ValidationError(cross);
  return spec;
}

/** Parses and validates a DatasetState manifest (YAML or JSON text). `origin` names the file in errors. */
export function parseManifest(text: string, origin = 'manifest'): DatasetStateManifest {
  const doc = yaml().parseDocument(text, { prettyErrors: true });
  if (doc.errors.length)
    throw new ValidationError(
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
      origin,
    );
  let raw: unknown;
  try {
    // maxAliasCount bounds what aliases may expand to (a "billion laughs" document is refused, not expanded).
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ValidationError([`YAML: ${(e as Error).message} (aliases expand too much)`], origin);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ValidationError(['(root): must be a mapping with apiVersion, kind, metadata and spec'], origin);
  const obj = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (obj.apiVersion !== API_VERSION)
    problems.push(`apiVersion: must be ${JSON.stringify(API_VERSION)} (got ${show(obj.apiVersion)})`);
  if (obj.kind !== KIND) problems.push(`kind: must be ${JSON.stringify(KIND)} (got ${show(obj.kind)})`);
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || !meta.name)
    problems.push('metadata.name: is required');
  if (obj.spec === undefined) problems.push('spec: is required');
  if (problems.length) throw new ValidationError(problems, origin);
  let spec: DatasetStateSpec;
  try {
    spec = parseSpec(obj.spec, 'spec');
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(e.problems, origin);
    throw e;
  }
  const manifest = { ...obj, spec } as DatasetStateManifest;
  if (!Value.Check(ManifestSchema, manifest)) {
    const rest = collectErrors(ManifestSchema, manifest, '');
    if (rest.length) throw new ValidationError(rest, origin);
  }
  return manifest;
}

/** The effective batch size: the declared one, or chosen from docCount when "auto". */
export function effectiveBatchSize(spec: Pick<DatasetStateSpec, 'docCount' | 'healing'>): number {
  if (spec.healing.batchSize !== 'auto') return spec.healing.batchSize;
  if (spec.docCount <= 1000) return 16;
  if (spec.docCount <= 10000) return 32;
  return 64;
}
