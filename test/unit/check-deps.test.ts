// scripts/check-deps.ts: package.json declares exactly what the sources import. Run on this repository (it must
// pass) and on a small project made here with each kind of mistake (it must name each one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'check-deps.ts');

function checkDeps(dir?: string) {
  return spawnSync(process.execPath, [script, ...(dir ? [dir] : [])], { encoding: 'utf8' });
}

test('this repository declares every package it imports, and imports every package it declares', () => {
  const r = checkDeps();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /each used; every import declared/);
});

test('check-deps names an unused dependency, a dev-only import in src, an undeclared import, stray types and docs that differ', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ds-check-deps-'));
  try {
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        dependencies: { used: '1', unused: '1', 'only-in-tests': '1' },
        devDependencies: {
          'dev-in-src': '1',
          'lazy-dev-in-src': '1',
          '@types/gone': '1',
          '@types/node': '1',
        },
        scripts: { test: 'node --test' },
      }),
    );
    mkdirSync(join(dir, 'src'));
    mkdirSync(join(dir, 'test'));
    // Spelled so that check-deps, reading this file, does not take the fixture's imports for this file's own.
    const dynamicImport = (spec: string) => `${'imp'}ort('${spec}')`;
    const lazyLoad = (spec: string) => `${'lazy'}Require<typeof X>('${spec}')`;
    writeFileSync(
      join(dir, 'src', 'a.ts'),
      [
        "import { x } from 'used';",
        "import type { T } from 'only-in-tests';",
        "import fs from 'node:fs';",
        `const m = await ${dynamicImport('dev-in-src')};`,
        `const lazy = ${lazyLoad('lazy-dev-in-src')};`,
        "import undeclared from '@scope/undeclared/sub';",
        "// import 'in-a-comment';",
        `const url = 'http://example.invalid'; // ${dynamicImport('also-a-comment')}`,
      ].join('\n'),
    );
    writeFileSync(join(dir, 'test', 'a.test.ts'), "import { y } from 'only-in-tests';\n");
    mkdirSync(join(dir, 'docs'));
    const listed = [
      'used',
      'unused',
      'only-in-tests',
      'dev-in-src',
      'lazy-dev-in-src',
      '@types/gone',
      '@types/node',
    ];
    writeFileSync(
      join(dir, 'docs', 'design-notes.md'),
      [
        '## Dependencies',
        '',
        '| package | why |',
        '| --- | --- |',
        ...listed.slice(1).map((p) => `| \`${p}\` | x |`),
        '| `ghost` | x |',
        '',
        '## Next',
        '| `used` | outside the section |',
      ].join('\n'),
    );
    const r = checkDeps(dir);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n').sort();
    assert.deepEqual(lines, [
      'check-deps: @scope/undeclared: imported by src/a.ts but not declared in package.json',
      'check-deps: @types/gone: types for gone, which nothing imports: remove it',
      'check-deps: dev-in-src: src/a.ts loads it at run time, but it is only a devDependency',
      'check-deps: ghost: docs/design-notes.md lists it, but package.json does not',
      'check-deps: lazy-dev-in-src: src/a.ts loads it at run time, but it is only a devDependency',
      'check-deps: only-in-tests: a dependency, but only src/a.ts, test/a.test.ts import it: make it a devDependency',
      'check-deps: unused: declared in dependencies, but nothing imports it: remove it',
      'check-deps: used: declared, but docs/design-notes.md does not list it',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
