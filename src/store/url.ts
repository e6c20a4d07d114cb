/**
 * Database URLs: which transport and SQL dialect a URL names, and how to print it without its credentials.
 *
 *   path/to/file.db | sqlite:PATH | file:PATH         embedded SQLite through node:sqlite (PATH :memory:: in memory)
 *   postgres://user:pass@host:port/db[?sslmode=...]   PostgreSQL through `pg` (postgresql:// too)
 *   iris:<ODBC connection string>                     InterSystems IRIS over ODBC (IRIS SQL)
 *   odbc:<ODBC connection string>                     the same: a bare ODBC URL speaks IRIS SQL
 *   odbc+iris: | odbc+postgres: | odbc+sqlite:<...>   ODBC with the named SQL dialect (the last two exist so the
 *                                                     whole ODBC path runs against drivers we can install)
 *
 * An ODBC connection string is `Key=Value;Key=Value` (values with `;` go in braces: `PWD={a;b}`), or
 * `DSN=name;UID=...;PWD=...` for a DSN in odbc.ini.
 */
import { StoreConfigError } from './errors.ts';

export type SqlDialectName = 'sqlite' | 'postgres' | 'iris';

export type ParsedUrl =
  | { transport: 'sqlite'; dialect: 'sqlite'; path: string }
  | { transport: 'postgres'; dialect: 'postgres'; url: string }
  | { transport: 'odbc'; dialect: SqlDialectName; connectionString: string };

const ODBC = /^(?:odbc(?:\+(iris|postgres|sqlite))?|iris):/i;

/** The transport and dialect of a URL, or null when it names neither (then it is not a database URL we know). */
export function parseDbUrl(url: string): ParsedUrl | null {
  if (/^postgres(ql)?:\/\//i.test(url)) return { transport: 'postgres', dialect: 'postgres', url };
  const m = ODBC.exec(url);
  if (m) {
    const connectionString = url.slice(m[0].length).trim();
    return {
      transport: 'odbc',
      dialect: (m[1]?.toLowerCase() as SqlDialectName | undefined) ?? 'iris',
      connectionString,
    };
  }
  if (/^(sqlite|file):/i.test(url))
    return { transport: 'sqlite', dialect: 'sqlite', path: url.replace(/^(sqlite|file):(\/\/)?/i, '') };
  if (/\.(db|sqlite3?)$/i.test(url)) return { transport: 'sqlite', dialect: 'sqlite', path: url };
  return null;
}

/** One `Key=Value` pair of an ODBC connection string, in order. */
export interface OdbcAttribute {
  key: string;
  value: string;
}

/** Splits an ODBC connection string into its attributes (braced values may hold `;`, `}}` is a literal `}`). */
export function parseConnectionString(s: string): OdbcAttribute[] {
  const out: OdbcAttribute[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ';' || s[i] === ' ')) i++;
    if (i >= s.length) break;
    const eq = s.indexOf('=', i);
    if (eq < 0)
      throw new StoreConfigError(
        `ODBC connection string: "${s.slice(i).split(';')[0]}" has no "=" (expected Key=Value;...)`,
      );
    const key = s.slice(i, eq).trim();
    i = eq + 1;
    let value = '';
    if (s[i] === '{') {
      i++;
      for (;;) {
        if (i >= s.length)
          throw new StoreConfigError(`ODBC connection string: the value of ${key} has an unclosed "{"`);
        if (s[i] === '}') {
          if (s[i + 1] === '}') {
            value += '}';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += s[i++];
      }
      while (i < s.length && s[i] !== ';') i++;
    } else {
      const end = s.indexOf(';', i);
      value = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      i = end < 0 ? s.length : end;
    }
    out.push({ key, value });
  }
  return out;
}

/** Joins attributes back into a connection string, bracing values that need it. */
export function formatConnectionString(attrs: readonly OdbcAttribute[]): string {
  return attrs
    .map(({ key, value }) => `${key}=${/[;{}\s]/.test(value) ? `{${value.replace(/}/g, '}}')}}` : value}`)
    .join(';');
}

const SECRET_KEYS = /^(pwd|password|pass|passwd|secret|token|authenticationkey|sslkey.*)$/i;

/** The connection string with every password-like value replaced by ***. */
export function redactConnectionString(s: string): string {
  try {
    return formatConnectionString(
      parseConnectionString(s).map((a) => (SECRET_KEYS.test(a.key) ? { key: a.key, value: '***' } : a)),
    );
  } catch {
    return '(unparseable connection string)';
  }
}

/** A URL safe to print: the password of a postgres:// URL and secrets of an ODBC connection string become ***. */
export function redactUrl(url: string): string {
  const parsed = parseDbUrl(url);
  if (!parsed) return url.replace(/\/\/([^:/@]*):\S*@/, '//$1:***@');
  switch (parsed.transport) {
    case 'sqlite':
      return url;
    case 'postgres':
      try {
        const u = new URL(url);
        if (u.password) u.password = '***';
        for (const k of [...u.searchParams.keys()]) if (SECRET_KEYS.test(k)) u.searchParams.set(k, '***');
        return u.toString().replace('%2A%2A%2A', '***');
      } catch {
        return url.replace(/\/\/([^:/@]*):\S*@/, '//$1:***@');
      }
    case 'odbc':
      return `${url.slice(0, url.length - parsed.connectionString.length)}${redactConnectionString(parsed.connectionString)}`;
  }
}

const ENCODING_ADVICE =
  'percent-encode reserved characters in the user name and password: @ as %40, : as %3A, / as %2F, # as %23, ' +
  '? as %3F, % as %25 (e.g. node -p "encodeURIComponent(process.argv[1])" \'p@ss\')';

/** `postgres://user:***@host/...`: a URL that may not parse, printed with nothing before its last `@` but the user. */
function redactAuthority(url: string): string {
  const start = url.indexOf('://') + 3;
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const user = /^[^:/@?#]*/.exec(url.slice(start))![0];
  return `${url.slice(0, start)}${user}:***@${url.slice(at + 1)}`;
}

/**
 * A postgres:// URL must parse, and its user name and password must be percent-encoded: an unencoded `@` is
 * otherwise taken (WHATWG URL takes the last one) for the end of the password, and `/`, `?` or `#` for the end
 * of the host, so the client would quietly connect elsewhere. Throws StoreConfigError (exit 2), never printing
 * the password.
 */
export function checkPostgresUrl(url: string): void {
  const start = url.indexOf('://') + 3;
  const end = url.slice(start).search(/[/?#]/);
  const authority = end < 0 ? url.slice(start) : url.slice(start, start + end);
  const rest = end < 0 ? '' : url.slice(start + end);
  const printable = redactAuthority(url);
  const ats = authority.split('@').length - 1;
  if (ats > 1)
    throw new StoreConfigError(
      `database.url ${printable}: the user name or password holds an unencoded "@"; ${ENCODING_ADVICE}`,
    );
  const [pathAndFragment, firstQueryKey] = [
    rest.replace(/\?[^#]*/, ''),
    /^[^?#]*\?([^=&#]*)/.exec(rest)?.[1],
  ];
  if (ats === 0 && (pathAndFragment.includes('@') || firstQueryKey?.includes('@')))
    throw new StoreConfigError(
      `database.url ${printable}: the user name or password holds an unencoded "/", "?" or "#" (the URL's host ` +
        `ends there); ${ENCODING_ADVICE}`,
    );
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreConfigError(
      `database.url ${printable} cannot be parsed as a URL (expected postgres://user:password@host:5432/database); ${ENCODING_ADVICE}`,
    );
  }
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch {
    throw new StoreConfigError(
      `database.url ${printable}: the user name or password holds a "%" that starts no percent-encoding; ${ENCODING_ADVICE}`,
    );
  }
}

/**
 * Any text (an error message, a log line) with credentials removed: the password of every `scheme://user:pass@`
 * URL in it, and password-like `Key=Value` pairs of ODBC connection strings and URL queries.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, '$1:***@')
    .replace(
      /\b(pwd|password|passwd|pass|secret|token|authenticationkey|sslkey\w*)=(\{(?:[^}]|\}\})*\}|[^;&\s]*)/gi,
      '$1=***',
    );
}
