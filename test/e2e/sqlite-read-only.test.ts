/**
 * Read-only passes (validate, plan) on a SQLite database in WAL mode that the user can read but not write: file
 * mode 0444 in a directory of mode 0555, run as an unprivileged user (root ignores permissions, so under root the
 * CLI runs as nobody through setpriv). With nothing pending in the -wal both passes work; with transactions
 * pending in a -wal and no -shm, they stop with a message saying exactly why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO, runCli } from '../helpers/cli.ts';

const root = process.getuid?.() === 0;
const setpriv = root ? spawnSync('setpriv', ['--version']).status === 0 : true;
const skip = setpriv ? false : 'running as root without setpriv: cannot run the CLI as an unprivileged user';
let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ds-readonly-'));
  chmodSync(tmp, 0o755);
});
after(() => {
  execFileSync('chmod', ['-R', 'u+w', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI as an unprivileged user (nobody under root, else this user). */
function asUser(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const cmd = root
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args]
    : [process.execPath, CLI, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, HOME: '/nonexistent' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function makeDatabase(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const source = join(dir, 'docs.jsonl');
  const lines = Array.from({ length: 5 }, (_, i) =>
    JSON.stringify({
      doc_id: `D${i}`,
      abstract: `The abstract of document ${i}, long enough to be a real abstract.`,
    }),
  );
  writeFileSync(source, lines.join('\n') + '\n');
  const db = join(dir, 'x.db');
  const r = await runCli([
    'ensure',
    '--target-state',
    'documents',
    '--doc-count',
    '5',
    '--source',
    source,
    '--db',
    db,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(`${db}-wal`) && !existsSync(`${db}-shm`), 'a clean close leaves no -wal and no -shm');
  const header = readFileSync(db).subarray(18, 20);
  assert.deepEqual([...header], [2, 2], 'the file is in WAL mode');
  return db;
}

function lockDown(dir: string, db: string): void {
  for (const f of [db, `${db}-wal`]) if (existsSync(f)) chmodSync(f, 0o444);
  chmodSync(dir, 0o555);
}

describe('read-only passes on a WAL database the user cannot write', { skip }, () => {
  it('validate and plan work (nothing pending in the -wal)', async () => {
    const dir = join(tmp, 'clean');
    const db = await makeDatabase(dir);
    lockDown(dir, db);
    const args = ['--target-state', 'documents', '--doc-count', '5', '--db', db];
    const v = asUser(['validate', ...args, '--output', 'json']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).ready, true);
    const p = asUser(['plan', ...args]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /nothing to do/);
    // The user could not write anything, and nothing was written.
    assert.ok(!existsSync(`${db}-shm`) && !existsSync(`${db}-wal`));
    const w = asUser(['ensure', ...args, '--doc-count', '6', '--source', join(dir, 'docs.jsonl')]);
    assert.notEqual(w.code, 0, 'a healing pass cannot write here');
  });

  it('transactions pending in the -wal without a -shm: stops and says exactly why', async () => {
    const src = join(tmp, 'src');
    const db = await makeDatabase(src);
    // A writer that has committed into the -wal and not checkpointed; copy the file and its -wal while it is open.
    const writer = new DatabaseSync(db);
    writer.exec('PRAGMA wal_autocheckpoint = 0');
    writer.exec(`UPDATE SourceDocuments SET title = 'changed' WHERE doc_id = 'D1'`);
    const dir = join(tmp, 'pending');
    mkdirSync(dir);
    const copy = join(dir, 'x.db');
    copyFileSync(db, copy);
    copyFileSync(`${db}-wal`, `${copy}-wal`);
    writer.close();
    lockDown(dir, copy);
    const v = asUser([
      'validate',
      '--target-state',
      'documents',
      '--doc-count',
      '5',
      '--db',
      copy,
      '--output',
      'json',
    ]);
    assert.equal(v.code, 1, v.stderr);
    const message = JSON.parse(v.stdout).error.message as string;
    assert.match(
      message,
      /is in WAL mode with \d+ bytes of transactions in .*x\.db-wal that are not in the file yet/,
    );
    assert.match(message, /x\.db-shm, which cannot be created because .*pending is not writable/);
    assert.match(message, /PRAGMA wal_checkpoint\(TRUNCATE\)/);
  });
});
