// Smoke tests against a real kube-apiserver (test/helpers/envtest.ts): the generated DatasetState CRD is
// installed and served, objects are defaulted and validated by the server, status goes through the
// status subresource, watches deliver the changes, and ServiceAccount tokens authenticate under RBAC.
//
//   node --test test/kubernetes/crd-and-rbac.test.ts
//   DATASTATE_TEST_KUBECONFIG=~/.kube/config node --test test/kubernetes/crd-and-rbac.test.ts   (existing cluster)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  VersionApi,
  Watch,
  loadYaml,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// DATASTATE_TEST_CRD: try a candidate CRD file instead of the generated one.
const crdPath =
  process.env['DATASTATE_TEST_CRD'] ?? join(repoRoot, 'crds', 'datastate.dev_datasetstates.yaml');
const group = 'datastate.dev';
const version = 'v1alpha1';
const plural = 'datasetstates';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface DatasetStateObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown> & { docCount?: unknown; targetState?: unknown; mode?: unknown };
  status?: Record<string, unknown> & { phase?: string };
}

/** HTTP status and Status message of a rejected request (client-node's ApiException). */
function apiError(e: unknown): { code: number | undefined; message: string } {
  const err = e as { code?: number; body?: unknown };
  let body = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* keep the text */
    }
  }
  const message =
    typeof body === 'object' && body !== null && 'message' in body
      ? String((body as { message: unknown }).message)
      : String(body ?? (e as Error).message);
  return { code: err.code, message };
}

async function rejects(p: Promise<unknown>): Promise<{ code: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    return apiError(e);
  }
  assert.fail('the request was accepted');
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('DatasetState on a real kube-apiserver', { timeout: 30 * 60_000 }, () => {
  let env: Envtest;
  let ns: string;
  let custom: CustomObjectsApi;

  before(async () => {
    const t0 = Date.now();
    env = await startEnvtest();
    console.log(
      `# control plane ${env.external ? 'from DATASTATE_TEST_KUBECONFIG' : 'started'} at ${env.server} in ${Date.now() - t0} ms`,
    );
    custom = env.kc.makeApiClient(CustomObjectsApi);
    ns = `dss-smoke-${randomBytes(3).toString('hex')}`;
    await env.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    if (!env) return;
    if (env.external && ns) {
      await env.kc
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: ns })
        .catch(() => {});
    }
    await env.stop();
  });

  test('the server is kube-apiserver', async () => {
    const v = await env.kc.makeApiClient(VersionApi).getCode();
    console.log(`# server version ${v.gitVersion}`);
    if (!env.external) assert.equal(v.gitVersion, 'v1.37.2');
  });

  test('the generated CRD is installed and becomes Established', async () => {
    // loadYaml, not a plain YAML parser: client-node serializes request bodies through its models, and
    // only a deserialized model keeps x-kubernetes-int-or-string, x-kubernetes-validations and the like.
    const crd = loadYaml<V1CustomResourceDefinition>(await readFile(crdPath, 'utf8'));
    const name = crd.metadata?.name;
    assert.equal(name, `${plural}.${group}`);
    const ext = env.kc.makeApiClient(ApiextensionsV1Api);
    try {
      await ext.createCustomResourceDefinition({ body: crd });
    } catch (e) {
      if (apiError(e).code !== 409) throw e;
      const live = await ext.readCustomResourceDefinition({ name });
      crd.metadata = { ...crd.metadata, resourceVersion: live.metadata?.resourceVersion };
      await ext.replaceCustomResourceDefinition({ name, body: crd });
    }
    await eventually('Established', async () => {
      const live = await ext.readCustomResourceDefinition({ name });
      const established = live.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    });
    // Discovery serves it with its short name (so `kubectl get dss` works).
    const resources = await eventually('discovery', async () => {
      try {
        return await custom.getAPIResources({ group, version });
      } catch {
        return undefined;
      }
    });
    const r = resources.resources.find((x) => x.name === plural);
    assert.ok(r, 'datasetstates in discovery');
    assert.deepEqual(r.shortNames, ['dss']);
    assert.equal(r.kind, 'DatasetState');
    assert.ok(
      resources.resources.some((x) => x.name === `${plural}/status`),
      'status subresource in discovery',
    );
    // Right after Established the resource's watch cache may still be starting: the server answers 429
    // "storage is (re)initializing" with Retry-After for a moment. Clients (informers) retry; so do we.
    await eventually('the resource to be served', async () => {
      try {
        return await custom.listNamespacedCustomObject({ group, version, namespace: ns, plural });
      } catch (e) {
        if (apiError(e).code !== 429) throw e;
        return undefined;
      }
    });
  });

  test('create, status subresource, watch', async () => {
    const events: { type: string; obj: DatasetStateObject }[] = [];
    const watchErrors: unknown[] = [];
    const list = (await custom.listNamespacedCustomObject({ group, version, namespace: ns, plural })) as {
      metadata: { resourceVersion: string };
    };
    const watcher = await new Watch(env.kc).watch(
      `/apis/${group}/${version}/namespaces/${ns}/${plural}`,
      { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: false },
      (type, obj: DatasetStateObject) => events.push({ type, obj }),
      (err) => {
        if (err) watchErrors.push(err);
      },
    );
    try {
      const created = (await custom.createNamespacedCustomObject({
        group,
        version,
        namespace: ns,
        plural,
        body: {
          apiVersion: `${group}/${version}`,
          kind: 'DatasetState',
          metadata: { name: 'pubmed-1k' },
          spec: { docCount: 1000, targetState: 'ragas-eval' },
        },
      })) as DatasetStateObject;
      assert.equal(created.metadata.generation, 1);
      // The server applied the CRD's structural defaults.
      assert.equal(created.spec.mode, 'AutoFix');
      assert.deepEqual(created.spec['selection'], { orderBy: 'doc_id', seed: 0 });

      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const patched = (await custom.patchNamespacedCustomObjectStatus(
        {
          group,
          version,
          namespace: ns,
          plural,
          name: 'pubmed-1k',
          body: {
            status: {
              observedGeneration: 1,
              phase: 'Healing',
              documents: 400,
              embedded: 250,
              conditions: [
                {
                  type: 'Progressing',
                  status: 'True',
                  reason: 'Healing',
                  message: 'embedding 750 documents',
                  lastTransitionTime: now,
                  observedGeneration: 1,
                },
              ],
            },
          },
        },
        mergePatch,
      )) as DatasetStateObject;
      assert.equal(patched.status?.phase, 'Healing');
      assert.equal(patched.metadata.generation, 1, 'a status write does not bump generation');

      // Through the main resource, status is ignored; through /status, spec is ignored.
      const viaMain = (await custom.patchNamespacedCustomObject(
        {
          group,
          version,
          namespace: ns,
          plural,
          name: 'pubmed-1k',
          body: { spec: { docCount: 1001 }, status: { phase: 'Failed' } },
        },
        mergePatch,
      )) as DatasetStateObject;
      assert.equal(viaMain.spec.docCount, 1001);
      assert.equal(viaMain.status?.phase, 'Healing');
      assert.equal(viaMain.metadata.generation, 2);

      const replaced = (await custom.replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace: ns,
        plural,
        name: 'pubmed-1k',
        body: {
          ...viaMain,
          spec: { ...viaMain.spec, docCount: 5 },
          status: {
            ...viaMain.status,
            phase: 'Ready',
            observedGeneration: 2,
            embedded: 1001,
            documents: 1001,
          },
        },
      })) as DatasetStateObject;
      assert.equal(replaced.status?.phase, 'Ready');
      assert.equal(replaced.spec.docCount, 1001, 'spec is not written through /status');

      const seen = await eventually('the watch events', async () => {
        const phases = events.map((e) => `${e.type}:${e.obj.status?.phase ?? '-'}`);
        return phases.includes('MODIFIED:Ready') ? phases : undefined;
      });
      assert.deepEqual(seen, ['ADDED:-', 'MODIFIED:Healing', 'MODIFIED:Healing', 'MODIFIED:Ready']);
      assert.equal(events[0]?.obj.metadata.name, 'pubmed-1k');
      assert.deepEqual(watchErrors, []);
    } finally {
      watcher.abort();
    }
  });

  test('the server rejects objects that violate the schema, naming the field', async () => {
    const create = (name: string, spec: Record<string, unknown>): Promise<unknown> =>
      custom.createNamespacedCustomObject({
        group,
        version,
        namespace: ns,
        plural,
        body: { apiVersion: `${group}/${version}`, kind: 'DatasetState', metadata: { name }, spec },
      });

    const zero = await rejects(create('zero', { docCount: 0 }));
    assert.equal(zero.code, 422);
    assert.match(
      zero.message,
      /spec\.docCount: Invalid value: 0: spec\.docCount in body should be greater than or equal to 1/,
    );

    const bogus = await rejects(create('bogus', { docCount: 10, targetState: 'bogus' }));
    assert.equal(bogus.code, 422);
    assert.match(
      bogus.message,
      /spec\.targetState: Unsupported value: "bogus": supported values: "ragas-eval", "token-embeddings", "documents"/,
    );

    const missing = await rejects(create('missing', { targetState: 'documents' }));
    assert.equal(missing.code, 422);
    assert.match(missing.message, /spec\.docCount: Required value/);

    const cel = await rejects(create('cel', { docCount: 10, healing: { batchSize: 'huge' } }));
    assert.equal(cel.code, 422);
    assert.match(
      cel.message,
      /spec\.healing\.batchSize: Invalid value: "huge": must be "auto" or an integer >= 1/,
    );

    const badStatus = await rejects(
      custom.patchNamespacedCustomObjectStatus(
        { group, version, namespace: ns, plural, name: 'pubmed-1k', body: { status: { phase: 'Bogus' } } },
        mergePatch,
      ),
    );
    assert.equal(badStatus.code, 422);
    assert.match(badStatus.message, /status\.phase: Unsupported value: "Bogus"/);
  });

  test('a ServiceAccount token authenticates, and RBAC decides what it may do', async () => {
    const token = await env.createServiceAccountToken(ns, 'datastate-smoke');
    const saCustom = env.kc.makeApiClient(CustomObjectsApi);
    const asSa = env.kubeConfigForToken(token).makeApiClient(CustomObjectsApi);
    const listAsSa = (): Promise<unknown> =>
      asSa.listNamespacedCustomObject({ group, version, namespace: ns, plural });

    const denied = await rejects(listAsSa());
    assert.equal(denied.code, 403, 'authenticated but not authorized');
    assert.match(denied.message, new RegExp(`system:serviceaccount:${ns}:datastate-smoke`));

    const forged = await rejects(
      env
        .kubeConfigForToken(`${token.slice(0, -4)}AAAA`)
        .makeApiClient(CustomObjectsApi)
        .listNamespacedCustomObject({
          group,
          version,
          namespace: ns,
          plural,
        }),
    );
    assert.equal(forged.code, 401, 'a token with a bad signature does not authenticate');

    const rbac = env.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'dss-reader' },
        rules: [{ apiGroups: [group], resources: [plural], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'dss-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'dss-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'datastate-smoke', namespace: ns }],
      },
    });
    const listed = await eventually('the RoleBinding to take effect', async () => {
      try {
        return (await listAsSa()) as { items: DatasetStateObject[] };
      } catch {
        return undefined;
      }
    });
    assert.deepEqual(
      listed.items.map((i) => i.metadata.name),
      ['pubmed-1k'],
    );
    // Reading is granted; writing is not.
    const write = await rejects(
      asSa.deleteNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'pubmed-1k' }),
    );
    assert.equal(write.code, 403);
    await saCustom.getNamespacedCustomObject({ group, version, namespace: ns, plural, name: 'pubmed-1k' });
  });
});
