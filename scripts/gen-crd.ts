// Writes the DatasetState CRD, generated from the schema (src/api/schema.ts), to every place that ships it:
//   crds/datastate.dev_datasetstates.yaml                  (the canonical copy; src/api/crd.ts CRD_FILE)
//   charts/datastate/crds/datastate.dev_datasetstates.yaml (installed by `helm install`)
//   deploy/crds/datastate.dev_datasetstates.yaml           (applied by `kubectl apply -k deploy/`)
// test/unit/generated-crds.test.ts fails when any copy differs from what the schema generates.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, datasetStateCrdYaml } from '../src/api/crd.ts';

/** Every committed copy of the generated CRD, relative to the repository root. */
export const CRD_COPIES = [
  CRD_FILE,
  `charts/datastate/crds/${basename(CRD_FILE)}`,
  `deploy/crds/${basename(CRD_FILE)}`,
];

if (import.meta.main) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const text = datasetStateCrdYaml();
  for (const file of CRD_COPIES) {
    const out = join(root, file);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    console.log(`wrote ${file}`);
  }
}
