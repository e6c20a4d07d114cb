/**
 * Helpers for tests on a real API server: polling, and installing the generated CRD.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import type { Envtest } from './envtest.ts';

const REPO = join(import.meta.dirname, '..', '..');
export const CRD_PATH = join(REPO, 'crds', 'datastate.dev_datasetstates.yaml');

/**
 * Polls fn until it returns something truthy (errors count as "not yet"). On time-out the error names what was
 * awaited, the last error, and whatever `context` adds (e.g. the tail of a controller's log).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; context?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
  const context = options.context?.() ?? '';
  throw new Error(
    `timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}${context ? `\n${context}` : ''}`,
  );
}

/**
 * Installs the CRD (an existing one is fine), waits for Established, then until DatasetStates are served: right
 * after Established the server may answer 429 while its storage for the new resource initializes.
 */
export async function installCrd(env: Envtest, file = CRD_PATH): Promise<void> {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(file, 'utf8'));
  const ext = env.kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({ body: crd }).catch((e) => {
    if ((e as { code?: number }).code !== 409) throw e;
  });
  await waitFor('CRD established', async () =>
    (await ext.readCustomResourceDefinition({ name: crd.metadata!.name! })).status?.conditions?.some(
      (c) => c.type === 'Established' && c.status === 'True',
    ),
  );
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  await waitFor('DatasetStates served', async () => {
    await custom.listClusterCustomObject({
      group: 'datastate.dev',
      version: 'v1alpha1',
      plural: 'datasetstates',
    });
    return true;
  });
}

export const DATASET_STATES = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };

/** Creates a DatasetState in `namespace` with this spec. */
export async function createDatasetState(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...DATASET_STATES,
    namespace,
    body: { apiVersion: 'datastate.dev/v1alpha1', kind: 'DatasetState', metadata: { name, namespace }, spec },
  });
}
