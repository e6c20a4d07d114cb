/**
 * kubeconform as the chart tests use it: strict, local schemas only, no download. The schemas of the built-in
 * kinds come from the real API server's OpenAPI document (/openapi/v2), the DatasetState's from the CRD's own
 * openAPIV3Schema; each is written, made strict the way kubeconform's "-strict" schemas are, before a run.
 *
 *   const kc = await kubeconformFor(env, { binary, crdFile, dir });
 *   const { code, report, problems } = kc.run(yamlText);
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadYaml } from '@kubernetes/client-node';
import type { Envtest } from './envtest.ts';

// OpenAPI documents and manifests are walked as plain JSON.
type Obj = Record<string, any>;

export interface KubeconformResult {
  code: number | null;
  report: {
    resources?: { kind: string; name: string; status: string; msg: string }[];
    summary: Record<string, number>;
  };
  /** "Kind/name: status message" of every resource that is not valid. */
  problems: string[];
}

export interface Kubeconform {
  run(yamlText: string, extra?: string[]): KubeconformResult;
}

/** GET a path of the API server as the test's admin (kubeconfig credentials, CA pinned). */
async function apiGet(env: Envtest, path: string): Promise<string> {
  const url = new URL(path, env.server);
  const opts: Obj = {
    method: 'GET',
    hostname: url.hostname,
    port: url.port,
    path: url.pathname,
    headers: { Accept: 'application/json' },
  };
  await env.kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(opts, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** kubeconform's file name for a kind: {{ .ResourceKind }}{{ .KindSuffix }}.json */
function schemaFile(apiVersion: string, kind: string): string {
  const parts = apiVersion.split('/');
  const suffix = parts.length > 1 ? `-${parts[0]!.split('.')[0]}-${parts[1]}` : `-${parts[0]}`;
  return `${kind.toLowerCase()}${suffix.toLowerCase()}.json`;
}

/**
 * Strict, like kubeconform's own "-strict" schemas (openapi2jsonschema --strict): an object that lists its
 * properties accepts no others, so a misspelt field is an error rather than silently dropped.
 */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (!node || typeof node !== 'object') return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node as Obj))
    out[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries(v as Obj).map(([p, s]) => [p, strict(s)]))
        : strict(v);
  if (out.format === 'int-or-string') {
    delete out.type;
    delete out.format;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (
    out.properties &&
    out.additionalProperties === undefined &&
    !out['x-kubernetes-preserve-unknown-fields']
  )
    out.additionalProperties = false;
  return out;
}

/** A standalone JSON schema for one built-in kind: its definition and every definition it refers to. */
function builtinSchema(
  swagger: { definitions: Record<string, Obj> },
  apiVersion: string,
  kind: string,
): Obj | null {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const root = Object.entries(swagger.definitions).find(([, d]) =>
    (d['x-kubernetes-group-version-kind'] as Obj[] | undefined)?.some(
      (g) => g.group === group && g.version === version && g.kind === kind,
    ),
  )?.[0];
  if (!root) return null;
  const needed = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node as Obj)) {
      if (k === '$ref' && typeof v === 'string') {
        const name = v.replace('#/definitions/', '');
        if (!needed.has(name)) {
          needed.add(name);
          visit(swagger.definitions[name]);
        }
      } else visit(v);
    }
  };
  needed.add(root);
  visit(swagger.definitions[root]);
  const definitions: Obj = {};
  for (const name of needed) definitions[name] = strict(swagger.definitions[name]);
  // A quantity may be written as a YAML number (cpu: 1).
  const q = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
  if (definitions[q]) definitions[q] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  return { $ref: `#/definitions/${root}`, definitions };
}

/**
 * kubeconform with the schemas of `env`'s API server and of the CRD in `crdFile` (its first version), written to
 * `dir` as each run needs them.
 */
export async function kubeconformFor(
  env: Envtest,
  opts: { binary: string; crdFile: string; dir: string },
): Promise<Kubeconform> {
  const swagger = JSON.parse(await apiGet(env, '/openapi/v2')) as { definitions: Record<string, Obj> };
  const crd = loadYaml<Obj>(readFileSync(opts.crdFile, 'utf8'));
  const crdApiVersion = `${crd.spec.group}/${crd.spec.versions[0].name}`;
  mkdirSync(opts.dir, { recursive: true });

  /** Writes the schema of every kind in `manifests` that kubeconform will need (the CRD's from its own schema). */
  const writeSchemas = (manifests: Obj[]) => {
    for (const m of manifests) {
      const schema =
        m.apiVersion === crdApiVersion && m.kind === crd.spec.names.kind
          ? (strict(crd.spec.versions[0].schema.openAPIV3Schema) as Obj)
          : builtinSchema(swagger, m.apiVersion, m.kind);
      if (schema) writeFileSync(join(opts.dir, schemaFile(m.apiVersion, m.kind)), JSON.stringify(schema));
    }
  };

  return {
    run(yamlText, extra = []) {
      writeSchemas(
        parseAllDocuments(yamlText)
          .map((d) => d.toJSON() as Obj | null)
          .filter((d): d is Obj => d !== null),
      );
      const r = spawnSync(
        opts.binary,
        [
          '-strict',
          '-summary',
          '-output',
          'json',
          '-schema-location',
          join(opts.dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
          ...extra,
          '-',
        ],
        { input: yamlText, encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      if (r.error) throw r.error;
      let report: KubeconformResult['report'];
      try {
        report = JSON.parse(r.stdout);
      } catch {
        throw new Error(`kubeconform output is not JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
      }
      return {
        code: r.status,
        report,
        problems: (report.resources ?? [])
          .filter((x) => x.status !== 'statusValid')
          .map((x) => `${x.kind}/${x.name}: ${x.status} ${x.msg}`),
      };
    },
  };
}
