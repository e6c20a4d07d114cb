/**
 * A PostgreSQL cluster of one test's own (own data directory, socket and loopback port), for tests that kill
 * backends or restart the server: the shared cluster of scripts/ci-databases.sh must not be disturbed. Needs the
 * server binaries that script installs (Debian's postgresql package). Runs as root (the server then runs as
 * `postgres`) or as any user that can run initdb.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const USER = 'datastate';
export const PRIVATE_PG_PASSWORD = 'pl@nted-S3cret';

export function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(a) - Number(b));
  for (const v of versions.reverse()) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface PrivatePostgres {
  /** postgres://datastate:<password, percent-encoded>@127.0.0.1:<port>/postgres */
  url: string;
  password: string;
  port: number;
  /** Runs SQL as the superuser over the private socket (psql). */
  psql(sql: string): string;
  /** pg_terminate_backend on every other client backend; returns how many were terminated. */
  terminateBackends(): number;
  /** pg_ctl stop -m immediate. */
  stopImmediate(): void;
  start(): void;
  /** Stops the server (if running) and deletes its directory. */
  destroy(): void;
}

/** Starts a private server; on `port` when given (a port of the caller's own), else on a free one. */
export async function startPrivatePostgres(options: { port?: number } = {}): Promise<PrivatePostgres> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found (run scripts/ci-databases.sh)');
  const root = mkdtempSync(join(tmpdir(), 'datastate-private-pg-'));
  chmodSync(root, 0o755);
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', stdio: 'pipe' })
      : execFileSync(cmd, args, { encoding: 'utf8', stdio: 'pipe' });
  if (asRoot) {
    const id = (f: string) => Number(execFileSync('id', [f, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, id('-u'), id('-g'));
  }
  const data = join(root, 'data');
  const pw = join(root, 'pw');
  writeFileSync(pw, PRIVATE_PG_PASSWORD + '\n');
  if (asRoot) execFileSync('chown', ['postgres', pw]);
  const port = options.port ?? (await freePort());
  let running = false;
  const pg: PrivatePostgres = {
    url: `postgres://${USER}:${encodeURIComponent(PRIVATE_PG_PASSWORD)}@127.0.0.1:${port}/postgres`,
    password: PRIVATE_PG_PASSWORD,
    port,
    psql(sql) {
      return run(join(bin, 'psql'), [
        '-h',
        root,
        '-p',
        String(port),
        '-U',
        USER,
        '-d',
        'postgres',
        '-Atqc',
        sql,
      ]);
    },
    terminateBackends() {
      const out = pg.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
      );
      return Number(out.trim());
    },
    stopImmediate() {
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
    },
    start() {
      run(join(bin, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        join(root, 'log'),
        '-w',
        '-o',
        `-p ${port} -k ${root} -c listen_addresses=127.0.0.1`,
        'start',
      ]);
      running = true;
    },
    destroy() {
      try {
        if (running) run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already down
      }
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    run(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      USER,
      `--pwfile=${pw}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]);
    pg.start();
  } catch (e) {
    pg.destroy();
    throw e;
  }
  return pg;
}
