// Every generated copy of the DatasetState CRD (crds/, the chart's crds/, deploy/crds/) is exactly what the
// schema generates, and deploy/kustomization.yaml lists exactly the files of deploy/. (deploy/ as a whole is
// compared with a fresh `helm template` in test/kubernetes/helm-chart.test.ts, which needs helm.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { datasetStateCrdYaml } from '../../src/api/crd.ts';
import { CRD_COPIES } from '../../scripts/gen-crd.ts';

const root = join(import.meta.dirname, '..', '..');

test('every committed copy of the CRD is exactly what src/api/schema.ts generates (run `node scripts/gen-crd.ts`)', () => {
  const expected = datasetStateCrdYaml();
  assert.deepEqual(CRD_COPIES, [
    'crds/datastate.dev_datasetstates.yaml',
    'charts/datastate/crds/datastate.dev_datasetstates.yaml',
    'deploy/crds/datastate.dev_datasetstates.yaml',
  ]);
  for (const file of CRD_COPIES) {
    const path = join(root, file);
    assert.ok(existsSync(path), `${file} is missing: run node scripts/gen-crd.ts`);
    assert.equal(
      readFileSync(path, 'utf8'),
      expected,
      `${file} differs from the schema: run node scripts/gen-crd.ts`,
    );
  }
});

test('the chart has no other CRD than the generated one', () => {
  assert.deepEqual(readdirSync(join(root, 'charts', 'datastate', 'crds')), [
    'datastate.dev_datasetstates.yaml',
  ]);
});

test('deploy/kustomization.yaml names every manifest in deploy/, and only those', () => {
  const kustomization = parse(readFileSync(join(root, 'deploy', 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else files.push(relative(join(root, 'deploy'), join(dir, e.name)));
    }
  };
  walk(join(root, 'deploy'));
  assert.deepEqual(
    [...kustomization.resources].sort(),
    files.filter((f) => f !== 'kustomization.yaml').sort(),
  );
});
