// Writes crds/datastate.dev_datasetstates.yaml from the schema (src/api/schema.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, datasetStateCrdYaml } from '../src/api/crd.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, CRD_FILE);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, datasetStateCrdYaml());
console.log(`wrote ${CRD_FILE}`);
