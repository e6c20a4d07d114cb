/**
 * How a read-only pass (validate, plan) attaches a SQLite file it may not be able to write.
 *
 * A database in WAL mode is read through its -shm index, which the first reader creates beside the file. When
 * the -shm is missing and the directory is not writable (a file mode 0444 in a directory the user cannot
 * write), SQLite cannot open it at all (SQLITE_READONLY_DIRECTORY or SQLITE_CANTOPEN), even read-only. Then:
 * - no -wal, or an empty one: every committed transaction is in the file itself, and with no -shm no connection
 *   has the database open in WAL mode, so it is opened `immutable=1` (no locks, no -shm): exact and safe;
 * - a non-empty -wal: its transactions are not in the file yet and reading them needs the -shm, so the pass
 *   stops with an error that says exactly that and what helps.
 * Otherwise (rollback journal, an existing -shm, a writable directory) it is opened `mode=ro` as usual.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

/** True when the file's header says WAL mode (file format read/write versions 2). */
function isWalFile(path: string): boolean {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return false;
  } finally {
    closeSync(fd);
  }
  return header.toString('latin1', 0, 15) === 'SQLite format 3' && header[18] === 2 && header[19] === 2;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** The URI to ATTACH an existing file read-only with; throws when its committed state cannot be read. */
export function readOnlyUri(path: string): string {
  const url = pathToFileURL(path).href;
  let wal: boolean;
  try {
    wal = isWalFile(path);
  } catch {
    return `${url}?mode=ro`; // unreadable: let SQLite say why
  }
  if (!wal || sizeOf(`${path}-shm`) !== undefined || writable(dirname(path))) return `${url}?mode=ro`;
  const walBytes = sizeOf(`${path}-wal`) ?? 0;
  if (walBytes === 0) return `${url}?immutable=1`;
  throw new Error(
    `cannot read ${path} read-only: it is in WAL mode with ${walBytes} bytes of transactions in ${path}-wal that ` +
      `are not in the file yet, and reading them needs ${path}-shm, which cannot be created because ` +
      `${dirname(path)} is not writable for this user. Let a writer checkpoint it ` +
      `(sqlite3 ${path} 'PRAGMA wal_checkpoint(TRUNCATE)'), or make the directory writable, or copy the file ` +
      `with its -wal somewhere writable.`,
  );
}
