import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkPostgresUrl,
  formatConnectionString,
  parseConnectionString,
  parseDbUrl,
  redactConnectionString,
  redactSecrets,
  redactUrl,
} from '../../src/store/url.ts';
import { dialectOfUrl, openStore, StoreConfigError } from '../../src/store/index.ts';
import { ODBC_BROKEN, ODBC_MISSING } from '../../src/store/clients/odbc.ts';

const names = {
  schema: 'RAG',
  tables: {
    sourceDocuments: 'SourceDocuments',
    tokenEmbeddings: 'DocumentTokenEmbeddings',
    ledger: 'DocumentEmbeddingLedger',
  },
};

test('URLs name a transport and a SQL dialect', () => {
  assert.deepEqual(parseDbUrl('postgres://u:p@h:5432/db'), {
    transport: 'postgres',
    dialect: 'postgres',
    url: 'postgres://u:p@h:5432/db',
  });
  assert.equal(parseDbUrl('postgresql://h/db')?.dialect, 'postgres');
  assert.deepEqual(parseDbUrl('iris:DSN=IRIS;UID=a;PWD=b'), {
    transport: 'odbc',
    dialect: 'iris',
    connectionString: 'DSN=IRIS;UID=a;PWD=b',
  });
  assert.deepEqual(parseDbUrl('odbc:DSN=IRIS'), {
    transport: 'odbc',
    dialect: 'iris',
    connectionString: 'DSN=IRIS',
  });
  assert.deepEqual(parseDbUrl('odbc+iris:DSN=x'), {
    transport: 'odbc',
    dialect: 'iris',
    connectionString: 'DSN=x',
  });
  assert.deepEqual(parseDbUrl('ODBC+Postgres:Driver={PostgreSQL Unicode};Server=h'), {
    transport: 'odbc',
    dialect: 'postgres',
    connectionString: 'Driver={PostgreSQL Unicode};Server=h',
  });
  assert.deepEqual(parseDbUrl('odbc+sqlite:Driver=SQLite3;Database=/x.db'), {
    transport: 'odbc',
    dialect: 'sqlite',
    connectionString: 'Driver=SQLite3;Database=/x.db',
  });
  assert.deepEqual(parseDbUrl('sqlite:/tmp/x.db'), {
    transport: 'sqlite',
    dialect: 'sqlite',
    path: '/tmp/x.db',
  });
  assert.deepEqual(parseDbUrl('file:///tmp/x'), { transport: 'sqlite', dialect: 'sqlite', path: '/tmp/x' });
  assert.deepEqual(parseDbUrl('data/x.sqlite3'), {
    transport: 'sqlite',
    dialect: 'sqlite',
    path: 'data/x.sqlite3',
  });
  assert.equal(parseDbUrl('mysql://h/db'), null);
  assert.equal(dialectOfUrl('odbc+sqlite:Driver=SQLite3;Database=/x.db'), 'sqlite');
  assert.equal(dialectOfUrl('odbc:DSN=x'), 'iris');
  assert.equal(dialectOfUrl('x.db'), 'sqlite');
  assert.equal(dialectOfUrl('somewhere'), null);
});

test('ODBC connection strings: braces, escaped braces, spaces; round trip', () => {
  const s = 'Driver={InterSystems IRIS ODBC35};Host=h;Port=1972;PWD={a;b}}c};UID= me ;';
  assert.deepEqual(parseConnectionString(s), [
    { key: 'Driver', value: 'InterSystems IRIS ODBC35' },
    { key: 'Host', value: 'h' },
    { key: 'Port', value: '1972' },
    { key: 'PWD', value: 'a;b}c' },
    { key: 'UID', value: 'me' },
  ]);
  assert.deepEqual(
    parseConnectionString(formatConnectionString(parseConnectionString(s))),
    parseConnectionString(s),
  );
  assert.throws(() => parseConnectionString('Driver'), /has no "="/);
  assert.throws(() => parseConnectionString('PWD={abc'), /unclosed/);
});

test('descriptions never carry a password', () => {
  assert.equal(
    redactUrl('postgres://alice:s3cret@db.example:5432/rag?sslmode=require'),
    'postgres://alice:***@db.example:5432/rag?sslmode=require',
  );
  assert.equal(redactUrl('postgres://db.example/rag'), 'postgres://db.example/rag');
  assert.equal(redactUrl('postgres://alice:p%40ss@h/rag'), 'postgres://alice:***@h/rag');
  assert.equal(redactUrl('postgres://alice@h/rag?password=s3cret'), 'postgres://alice@h/rag?password=***');
  assert.equal(
    redactUrl('iris:Driver={InterSystems IRIS ODBC35};Host=h;UID=_SYSTEM;PWD={se;cret}'),
    'iris:Driver={InterSystems IRIS ODBC35};Host=h;UID=_SYSTEM;PWD=***',
  );
  assert.equal(redactConnectionString('DSN=x;Password=s3cret;uid=u'), 'DSN=x;Password=***;uid=u');
  assert.equal(redactConnectionString('PWD={unclosed'), '(unparseable connection string)');
  assert.equal(
    redactUrl('odbc+sqlite:Driver=SQLite3;Database=/tmp/x.db'),
    'odbc+sqlite:Driver=SQLite3;Database=/tmp/x.db',
  );
  assert.equal(redactUrl('/tmp/x.db'), '/tmp/x.db');
});

test('openStore: a URL of another dialect, a missing URL, an unknown scheme are configuration errors', async () => {
  await assert.rejects(
    openStore({ dialect: 'iris', url: 'postgres://h/db', ...names }),
    (e: Error) =>
      e instanceof StoreConfigError && /looks like postgres but database.dialect is iris/.test(e.message),
  );
  const saved = process.env.DATASTATE_DB_URL;
  delete process.env.DATASTATE_DB_URL;
  try {
    await assert.rejects(
      openStore({ dialect: 'postgres', ...names }),
      (e: Error) => e instanceof StoreConfigError && /DATASTATE_DB_URL/.test(e.message),
    );
    await assert.rejects(
      openStore({ dialect: 'postgres', url: 'mysql://u:s3cret@h/db', ...names }),
      (e: Error) =>
        e instanceof StoreConfigError &&
        /the scheme mysql: is not supported; accepted: .*postgres:\/\//.test(e.message) &&
        !e.message.includes('s3cret'),
    );
    // DATASTATE_DB_URL fills in a missing URL (the store opens lazily: nothing is contacted here)
    process.env.DATASTATE_DB_URL = 'postgres://u:s3cret@127.0.0.1:1/none';
    const s = await openStore({ dialect: 'postgres', ...names });
    assert.equal(s.description, 'postgres://u:***@127.0.0.1:1/none');
    await s.close();
  } finally {
    if (saved === undefined) delete process.env.DATASTATE_DB_URL;
    else process.env.DATASTATE_DB_URL = saved;
  }
});

test('without the odbc addon, an ODBC URL fails naming the packages to install (the rest still loads)', () => {
  // A child process in which `import('odbc')` fails, as on a machine without unixODBC's headers.
  const hook = `import { registerHooks } from 'node:module';
registerHooks({ resolve(specifier, context, next) { if (specifier === 'odbc') throw Object.assign(new Error("Cannot find package 'odbc'"), { code: 'ERR_MODULE_NOT_FOUND' }); return next(specifier, context); } });`;
  const store = fileURLToPath(new URL('../../src/store/index.ts', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ds-noodbc-'));
  const script = `
    const { openStore } = await import(${JSON.stringify(store)});
    const names = { schema: 'RAG', tables: { sourceDocuments: 'S', tokenEmbeddings: 'T', ledger: 'L' } };
    const s = await openStore({ dialect: 'iris', url: 'iris:DSN=x;PWD=s3cret', ...names });
    try { await s.counts(); console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }
    const q = await openStore({ dialect: 'sqlite', url: ${JSON.stringify(join(dir, 'x.db'))}, ...names });
    console.log(typeof q.counts);
    await q.close();`;
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { ...process.env, DATASTATE_HOME: undefined },
    },
  );
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  const [line, sqlite] = r.stdout.trim().split('\n');
  assert.equal(line, `StoreConfigError: ${ODBC_MISSING} (Cannot find package 'odbc')`);
  assert.match(ODBC_MISSING, /apt-get install unixodbc unixodbc-dev, then run npm ci again/);
  assert.match(ODBC_BROKEN, /apt-get install unixodbc unixodbc-dev, then npm rebuild odbc/);
  assert.equal(sqlite, 'function');

  // installed, but its binary does not load (built for another Node, or libodbc missing)
  const broken = `import { registerHooks } from 'node:module';
registerHooks({ resolve(specifier, context, next) { if (specifier === 'odbc') return { url: 'data:text/javascript,throw new Error("libodbc.so.2: cannot open shared object file")', shortCircuit: true }; return next(specifier, context); } });`;
  const r2 = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(broken)}`,
      '--input-type=module',
      '-e',
      script.replace(/const q = [\s\S]*$/, ''),
    ],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(
    r2.stdout.trim(),
    `StoreConfigError: ${ODBC_BROKEN} (libodbc.so.2: cannot open shared object file)`,
  );
});

test('redactSecrets removes URL passwords and ODBC/query secrets from any text', () => {
  const text =
    'connect postgres://u:p%40ss@h:5432/db?sslmode=require&password=q1 failed; iris:Host=h;UID=u;PWD={a;b}}c};X=1 too';
  const out = redactSecrets(text);
  assert.doesNotMatch(out, /p%40ss|q1|a;b/);
  assert.match(out, /postgres:\/\/u:\*\*\*@h:5432\/db/);
  assert.match(out, /PWD=\*\*\*;X=1/);
});

test('a postgres URL whose password holds an unencoded reserved character is bad input, the password never printed', async () => {
  const cases: [string, RegExp][] = [
    ['postgres://ds:s3cr@t@db.example:5432/rag', /unencoded "@"/],
    ['postgres://ds:s3cr/t@db.example:5432/rag', /unencoded "\/", "\?" or "#"/],
    ['postgres://ds:s3cr?t@db.example/rag', /unencoded "\/", "\?" or "#"/],
    ['postgres://ds:s3cr#t@db.example/rag', /unencoded "\/", "\?" or "#"/],
    ['postgres://ds:s3cr%zt@db.example/rag', /"%" that starts no percent-encoding/],
    ['postgres://ds:s3cr@t@[::1/rag', /unencoded "@"/],
  ];
  for (const [url, reason] of cases) {
    await assert.rejects(
      openStore({ dialect: 'postgres', url, ...names }),
      (e: Error) => {
        assert.ok(e instanceof StoreConfigError, `${url}: ${e.name}`);
        assert.match(e.message, reason, url);
        assert.match(e.message, /@ as %40/);
        assert.match(e.message, /postgres:\/\/ds:\*\*\*@/);
        assert.doesNotMatch(e.message, /s3cr/, url);
        return true;
      },
      url,
    );
  }
  // Percent-encoded, the same password parses (and a query value may hold an @).
  assert.doesNotThrow(() =>
    checkPostgresUrl(`postgres://ds:${encodeURIComponent('s3cr@t/?#%')}@db.example/rag?application_name=a@b`),
  );
  assert.equal(redactUrl('postgres://ds:s3cr@t@db.example/rag').includes('s3cr'), false);
  assert.equal(redactUrl('postgres://ds:s3cr@t@db.example/rag').includes('t@db'), false);
});
