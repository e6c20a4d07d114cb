/**
 * The Store contract, the same tests (test/helpers/store-conformance.ts) on every database we can run
 * (test/helpers/databases.ts): the embedded SQLite store, PostgreSQL through `pg` (real server), PostgreSQL +
 * pgvector in PGlite, and the ODBC path with PostgreSQL's and SQLite's ODBC drivers. (IRIS, which we cannot
 * run, shares the ODBC path; its SQL is pinned in test/unit/store-iris-sql.test.ts. The in-memory store runs the
 * same suite in test/unit/store-memory.test.ts.) The suite runs again with float16 vectors
 * (database.vectorPrecision) where a store has them: SQLite's BLOBs (both drivers) and pgvector's halfvec (PGlite).
 */
import { after } from 'node:test';
import { BACKENDS, FLOAT16_BACKENDS, closeShared } from '../helpers/databases.ts';
import { storeConformance } from '../helpers/store-conformance.ts';

after(closeShared);

for (const backend of BACKENDS) storeConformance(backend);
for (const backend of FLOAT16_BACKENDS) storeConformance(backend, 'float16');
