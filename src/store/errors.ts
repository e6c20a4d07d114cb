/** Errors of the stores, and which of them are worth retrying. */

/** Bad store configuration (unknown URL scheme, missing driver): the CLI maps it to exit code 2. */
export class StoreConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConfigError';
  }
}

/** SQLite's primary result code of an error from node:sqlite (its extended code less the extension), or null. */
export function sqliteCode(error: unknown): number | null {
  const code = (error as { errcode?: unknown })?.errcode;
  return typeof code === 'number' ? code & 0xff : null;
}

/** SQLite's BUSY/LOCKED: another writer holds the lock past busy_timeout; trying again later may work. */
export function isTransientSqliteError(error: unknown): boolean {
  const code = sqliteCode(error);
  if (code !== null) return code === 5 || code === 6;
  return /SQLITE_BUSY|SQLITE_LOCKED|database is locked/i.test(
    String((error as { message?: string })?.message ?? ''),
  );
}

/** The messages of an error from the odbc package (it puts the driver's messages in odbcErrors), joined. */
export function odbcText(error: unknown): string {
  const e = error as { message?: string; odbcErrors?: { message?: string }[] };
  return [e?.message ?? '', ...(e?.odbcErrors ?? []).map((x) => x.message ?? '')].join(' | ');
}
