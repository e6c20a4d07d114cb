// Type-checking must not depend on the optional `odbc` addon: on a machine without unixODBC's headers npm skips it,
// and `make test` type-checks before the headers are installed. This runs `tsc` on a copy of the sources whose
// node_modules has every package but odbc (docs/runtime.md, "The optional odbc addon").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

test('tsc passes on the sources with the odbc package absent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ds-typecheck-no-odbc-'));
  try {
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as {
      include: string[];
    };
    for (const entry of [...tsconfig.include, 'tsconfig.json', 'package.json']) {
      cpSync(join(root, entry), join(dir, entry), {
        recursive: true,
        filter: (src) => !src.includes(join('test', 'envtest')) && !src.includes('node_modules'),
      });
    }
    mkdirSync(join(dir, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name === 'odbc' || name === '.bin') continue;
      symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
    }
    const probe = spawnSync(
      process.execPath,
      ['-e', "import('odbc').then(() => process.exit(0), () => process.exit(3))"],
      {
        cwd: dir,
      },
    );
    assert.equal(probe.status, 3, 'odbc must not be importable in the copy');
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc without odbc failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
