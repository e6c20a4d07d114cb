/**
 * Checks package.json against what the sources import, so that no dependency is declared that nothing uses and
 * nothing is used that is not declared:
 *
 *   - every `dependencies` / `optionalDependencies` entry is imported (at run time, not only as a type) by the
 *     product's own code: src/ or bin/;
 *   - every `devDependencies` entry is imported by a test, benchmark, script or config file, or is a tool whose
 *     command (its package.json `bin`) a package.json script, a make file or a shell script runs, or is the
 *     `@types/` package of something that is used;
 *   - every package that any source imports is declared, and the product's run-time code imports no
 *     devDependency;
 *   - docs/design-notes.md's "Dependencies" tables name exactly the declared packages (first column, in backticks).
 *
 *   node scripts/check-deps.ts [DIR]   DIR: the project (default: this repository); exit 0 when all holds,
 *                                      otherwise one line per finding and exit 1
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
};

const SOURCE_DIRS = ['src', 'bin', 'test', 'scripts', 'bench', 'types'];
const CONFIG_FILES = ['eslint.config.js'];
const SKIP_DIRS = new Set(['node_modules', 'envtest', '.datastate', 'fixtures-data']);

function* sourceFiles(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!SKIP_DIRS.has(name)) yield* sourceFiles(p);
    } else if (/\.(ts|js|mjs)$/.test(name)) yield p;
  }
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or null for builtins and paths. */
function packageOf(spec: string): string | null {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return null;
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtinModules.includes(name) ? null : name;
}

interface Use {
  file: string;
  typeOnly: boolean;
}

/**
 * Every bare import of a file: `import ... from 'x'`, `export ... from 'x'`, `import 'x'`, `import('x')`, and
 * `lazyRequire('x')` / `lazyRequire<T>('x')` (src/core/lazy-require.ts: loaded on first use, a run-time load).
 */
function importsOf(source: string): { spec: string; typeOnly: boolean }[] {
  // Comments are not imports (a `//` only starts one at the start of a line or after a space, not in a URL).
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
  const found: { spec: string; typeOnly: boolean }[] = [];
  const staticRe = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(staticRe)) found.push({ spec: m[3]!, typeOnly: Boolean(m[2]) });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    // `typeof import('x')` in a type position is erased; a call is a real load.
    const before = text.slice(Math.max(0, m.index - 7), m.index);
    found.push({ spec: m[1]!, typeOnly: /typeof\s*$/.test(before) });
  }
  for (const m of text.matchAll(/\blazyRequire(?:<[^>()]*>)?\(\s*['"]([^'"]+)['"]\s*\)/g))
    found.push({ spec: m[1]!, typeOnly: false });
  return found;
}

const uses = new Map<string, Use[]>();
const files = [
  ...SOURCE_DIRS.flatMap((d) => [...sourceFiles(join(root, d))]),
  ...CONFIG_FILES.map((f) => join(root, f)),
];
for (const file of files) {
  if (!existsSync(file)) continue;
  for (const { spec, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
    const name = packageOf(spec);
    if (!name) continue;
    const list = uses.get(name) ?? [];
    list.push({ file: relative(root, file), typeOnly });
    uses.set(name, list);
  }
}

/** The text of everything that runs commands: package.json scripts, make files, shell scripts, CI. */
function commandText(): string {
  const parts = [Object.values(pkg.scripts ?? {}).join('\n')];
  const candidates = [
    'Makefile',
    ...(existsSync(join(root, 'mk')) ? readdirSync(join(root, 'mk')) : []).map((f) => join('mk', f)),
    join('.ci', 'run'),
  ];
  for (const f of existsSync(join(root, 'scripts')) ? readdirSync(join(root, 'scripts')) : [])
    if (f.endsWith('.sh')) candidates.push(join('scripts', f));
  for (const f of candidates) if (existsSync(join(root, f))) parts.push(readFileSync(join(root, f), 'utf8'));
  return parts.join('\n');
}

function binsOf(name: string): string[] {
  const p = join(root, 'node_modules', name, 'package.json');
  if (!existsSync(p)) return [];
  const bin = (JSON.parse(readFileSync(p, 'utf8')) as { bin?: string | Record<string, string> }).bin;
  if (!bin) return [];
  return typeof bin === 'string' ? [name.split('/').pop()!] : Object.keys(bin);
}

const runtime = (u: Use) => !u.typeOnly && (u.file.startsWith('src/') || u.file.startsWith('bin/'));
const product = { ...pkg.dependencies, ...pkg.optionalDependencies };
const dev = pkg.devDependencies ?? {};
const declared = new Set([...Object.keys(product), ...Object.keys(dev)]);
const commands = commandText();
const problems: string[] = [];

for (const name of Object.keys(product)) {
  const u = uses.get(name) ?? [];
  if (!u.some(runtime)) {
    problems.push(
      u.length
        ? `${name}: a dependency, but only ${u.map((x) => x.file).join(', ')} import it: make it a devDependency`
        : `${name}: declared in dependencies, but nothing imports it: remove it`,
    );
  }
}
for (const name of Object.keys(dev)) {
  if (uses.has(name)) continue;
  if (name.startsWith('@types/')) {
    const typed = name.slice('@types/'.length).replace(/^(.+)__(.+)$/, '@$1/$2');
    if (typed === 'node' || uses.has(typed)) continue;
    problems.push(`${name}: types for ${typed}, which nothing imports: remove it`);
    continue;
  }
  const bins = binsOf(name);
  if (
    bins.some((b) =>
      new RegExp(`(^|[\\s/'"(])${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm').test(commands),
    )
  )
    continue;
  problems.push(
    `${name}: declared in devDependencies, but nothing imports it or runs its command: remove it`,
  );
}
for (const [name, u] of uses) {
  if (!declared.has(name))
    problems.push(`${name}: imported by ${u[0]!.file} but not declared in package.json`);
  else if (name in dev && !(name in product)) {
    const r = u.find(runtime);
    if (r) problems.push(`${name}: ${r.file} loads it at run time, but it is only a devDependency`);
  }
}

const DOC = join('docs', 'design-notes.md');
if (existsSync(join(root, DOC))) {
  const text = readFileSync(join(root, DOC), 'utf8');
  const section = /^## Dependencies[^\n]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(text)?.[1] ?? '';
  const named = new Set<string>();
  for (const row of section.split('\n').filter((l) => l.startsWith('|'))) {
    for (const m of (row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)) named.add(m[1]!);
  }
  if (!section) problems.push(`${DOC} has no "## Dependencies" section listing the packages`);
  else {
    for (const name of declared)
      if (!named.has(name)) problems.push(`${name}: declared, but ${DOC} does not list it`);
    for (const name of named)
      if (!declared.has(name)) problems.push(`${name}: ${DOC} lists it, but package.json does not`);
  }
}

if (problems.length) {
  for (const p of problems) console.error(`check-deps: ${p}`);
  process.exit(1);
}
console.log(`check-deps: ${declared.size} declared packages, each used; every import declared`);
