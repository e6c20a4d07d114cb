/**
 * The make targets of mk/k8s.mk, run for real with kubectl against a real kube-apiserver (test/envtest):
 * k8s-install (kubectl apply -k deploy/ without helm, helm upgrade --install with it), k8s-ensure-ragas,
 * k8s-validate and k8s-status. The controller runs as a child process with the ServiceAccount token that
 * deploy/ creates (no kubelet here, so its Pods never start), embedding in process: no worker Pod can run
 * here either.
 *
 *   node --test test/kubernetes/make-k8s-targets.test.ts        (needs make and kubectl; KUBECTL=/path/to/kubectl)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { startEnvtest, type Envtest } from '../helpers/envtest.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { CLI, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { findTool, ROOT } from '../../scripts/gen-deploy.ts';

const kubectl = findTool('kubectl', 'KUBECTL');
const skip = kubectl ? false : 'no kubectl on this machine (set KUBECTL=/path/to/kubectl)';
const NS = 'ragas';
const G = { group: 'datastate.dev', version: 'v1alpha1', plural: 'datasetstates' };

let env: Envtest;
let helm: string;
let dir: string;
let db: string;
let controller: { child: ChildProcess; log: string[] } | null = null;
/** Make variables every DatasetState target gets: the test's namespace, database, corpus and model. */
let dataVars: string[];

function make(target: string, vars: string[] = []) {
  const t0 = Date.now();
  const r = spawnSync(
    'make',
    ['--no-print-directory', '-f', join(ROOT, 'mk', 'k8s.mk'), target, `KUBECTL=${kubectl}`, ...vars],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: env.kubeconfigPath },
      timeout: 240_000,
    },
  );
  if (r.error) throw r.error;
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    ms: Date.now() - t0,
    all: `${r.stdout}\n${r.stderr}`,
  };
}

function rows(sql: string): { n: number }[] {
  const conn = new DatabaseSync(db);
  try {
    return conn.prepare(sql).all() as { n: number }[];
  } finally {
    conn.close();
  }
}

before(async () => {
  if (skip) return;
  const h = findTool('helm', 'HELM');
  if (!h)
    spawnSync('bash', [join(ROOT, 'scripts', 'envtest.sh'), 'build'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  helm = h ?? findTool('helm', 'HELM')!;
  dir = mkdtempSync(join(tmpdir(), 'ds-helm-make-'));
  db = join(dir, 'ragas.db');
  dataVars = [
    `K8S_NAMESPACE=${NS}`,
    'K8S_DIALECT=sqlite',
    'K8S_DB_SECRET=ragas-db',
    `K8S_SOURCE=${pmcCorpusPath()}`,
    `K8S_MODEL=${await smallModelDir()}`,
    `K8S_DIM=${SMALL_DIM}`,
  ];
  env = await startEnvtest();
});

after(async () => {
  if (controller && controller.child.exitCode === null && controller.child.signalCode === null) {
    const exited = new Promise((r) => controller!.child.once('exit', r));
    controller.child.kill('SIGTERM');
    await exited;
  }
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('make k8s-install without helm: kubectl apply -k deploy/', { skip }, async () => {
  const r = make('k8s-install', ['HELM=', 'K8S_INSTALL_WAIT=']);
  assert.equal(r.code, 0, r.all);
  console.log(`# make k8s-install (kubectl apply -k deploy/) in ${r.ms} ms`);
  assert.match(r.stdout, /apply -k .*deploy\//);
  for (const line of [
    'namespace/datastate-system created',
    'customresourcedefinition.apiextensions.k8s.io/datasetstates.datastate.dev created',
    'clusterrole.rbac.authorization.k8s.io/datastate created',
    'deployment.apps/datastate-controller created',
    // kubectl apply of the NetworkPolicy and PodDisruptionBudget: accepted by the API server.
    'networkpolicy.networking.k8s.io/datastate-controller created',
    'poddisruptionbudget.policy/datastate-controller created',
  ])
    assert.ok(r.stdout.includes(line), `${line}\n${r.all}`);
  const apps = env.kc.makeApiClient(AppsV1Api);
  assert.equal(
    (await apps.readNamespacedDeployment({ name: 'datastate-controller', namespace: 'datastate-system' }))
      .spec?.replicas,
    2,
  );
  // Idempotent.
  const again = make('k8s-install', ['HELM=', 'K8S_INSTALL_WAIT=']);
  assert.equal(again.code, 0, again.all);
  assert.match(again.stdout, /deployment.apps\/datastate-controller unchanged/);
  // Without helm only the release deploy/ holds can be installed.
  const other = make('k8s-install', ['HELM=', 'K8S_RELEASE_NAMESPACE=elsewhere']);
  assert.equal(other.code, 2, other.all);
  assert.match(
    other.stderr,
    /without helm, deploy\/ installs release "datastate" in "datastate-system" only/,
  );
});

test(
  'make k8s-install with helm: helm upgrade --install (the CRD applied first); the rollout wait fails without a kubelet',
  { skip },
  async () => {
    const vars = [
      `HELM=${helm}`,
      'K8S_RELEASE=ds2',
      'K8S_RELEASE_NAMESPACE=ds2-system',
      'K8S_HELM_FLAGS=--set replicaCount=1',
    ];
    const r = make('k8s-install', [...vars, 'K8S_INSTALL_WAIT=']);
    assert.equal(r.code, 0, r.all);
    console.log(`# make k8s-install (helm) in ${r.ms} ms`);
    assert.match(
      r.stdout,
      /customresourcedefinition.apiextensions.k8s.io\/datasetstates.datastate.dev serverside-applied/,
    );
    assert.match(r.stdout, /STATUS: deployed/);
    assert.match(r.stdout, /kubectl apply -f examples\/ragas-1k.yaml/, 'the NOTES are shown');
    const rbac = env.kc.makeApiClient(RbacAuthorizationV1Api);
    assert.equal((await rbac.readClusterRole({ name: 'ds2-datastate' })).rules?.length, 9);
    const apps = env.kc.makeApiClient(AppsV1Api);
    assert.equal(
      (await apps.readNamespacedDeployment({ name: 'ds2-datastate-controller', namespace: 'ds2-system' }))
        .spec?.replicas,
      1,
    );
    // An upgrade through the same target; with a rollout wait, which cannot succeed here (no kubelet).
    const up = make('k8s-install', [...vars, 'K8S_INSTALL_WAIT=2s']);
    assert.notEqual(up.code, 0);
    assert.match(up.stdout, /has been upgraded/);
    assert.match(up.all, /rollout status deployment\/ds2-datastate-controller --timeout=2s/);
    assert.match(up.all, /timed out waiting for the condition/);
    const un = spawnSync(helm, ['--kubeconfig', env.kubeconfigPath, 'uninstall', 'ds2', '-n', 'ds2-system'], {
      encoding: 'utf8',
    });
    assert.equal(un.status, 0, un.stderr);
  },
);

test(
  'make k8s-ensure-ragas DOCS=20: applies the DatasetState, waits for Ready, prints its status',
  { skip },
  async () => {
    // The controller: deploy/'s ServiceAccount token and deploy/'s Deployment arguments (metrics on a free port;
    // no --workers: no worker Pod can run without a kubelet, so embedding runs in the controller process).
    const token = await env.createServiceAccountToken('datastate-system', 'datastate');
    const kubeconfig = join(dir, 'sa-kubeconfig');
    writeFileSync(kubeconfig, env.kubeConfigForToken(token).exportConfig(), { mode: 0o600 });
    const d = await env.kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'datastate-controller', namespace: 'datastate-system' });
    const args: string[] = [];
    const chartArgs = d.spec!.template.spec!.containers[0]!.args!;
    for (let i = 0; i < chartArgs.length; i++) {
      const a = chartArgs[i]!;
      if (a === '--workers' || a === '--worker-pdb') continue; // the flags without a value
      if (a.startsWith('--worker-') || a === '--batches-per-worker') {
        i++;
        continue;
      }
      args.push(a === '$(POD_NAMESPACE)' ? 'datastate-system' : a);
    }
    args[args.indexOf('--metrics-port') + 1] = '0';
    const log: string[] = [];
    const child = spawn(process.execPath, [CLI, ...args, '--kubeconfig', kubeconfig, '--status-every', '1'], {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: '', DATASTATE_HOME: join(dir, 'home') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (x) => log.push(...String(x).split('\n').filter(Boolean)));
    controller = { child, log };

    const core = env.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'ragas-db' }, stringData: { url: db } },
    });

    const r = make('k8s-ensure-ragas', ['DOCS=20', 'K8S_TIMEOUT=180s', ...dataVars]);
    assert.equal(r.code, 0, `${r.all}\ncontroller:\n${log.slice(-15).join('\n')}`);
    console.log(`# make k8s-ensure-ragas DOCS=20 in ${r.ms} ms`);
    assert.match(r.stdout, /datasetstate.datastate.dev\/ragas-20 created/);
    assert.match(r.stdout, /condition met/);
    assert.match(
      r.stdout,
      /NAME\s+TARGET\s+DOCS\s+EMBEDDED\s+PROGRESS\s+ETA\s+PHASE\s+ESTIMATE\s+READY\s+AGE\nragas-20\s+ragas-eval\s+20\s+20\s+\S+\s+\d+\s+Ready\s+True/,
    );
    assert.match(r.stdout, /check token_embeddings_complete: passed=true/);
    assert.equal((r.stdout.match(/passed=true/g) ?? []).length, 6);
    assert.match(r.stdout, /READY\n$/);
    assert.equal(rows('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0]!.n, 20);
    const o = (await env.kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-20' })) as {
      spec: { database: { connectionSecretRef: { name: string } }; embedding: { dimension: number } };
    };
    assert.deepEqual(
      [o.spec.database.connectionSecretRef.name, o.spec.embedding.dimension],
      ['ragas-db', SMALL_DIM],
    );

    // Run again: nothing to do, Ready at once.
    const again = make('k8s-ensure-ragas', ['DOCS=20', 'K8S_TIMEOUT=60s', ...dataVars]);
    assert.equal(again.code, 0, again.all);
    assert.match(again.stdout, /ragas-20 unchanged/);
  },
);

test(
  'make k8s-ensure-ragas fails with the status when the DatasetState cannot become Ready in time',
  { skip },
  async () => {
    const r = make('k8s-ensure-ragas', [
      'DOCS=25',
      'K8S_TIMEOUT=6s',
      ...dataVars,
      'K8S_DB_SECRET=no-such-secret',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /dss\/ragas-25 is not Ready after 6s/);
    assert.match(r.stderr, /cannot read Secret ragas\/no-such-secret: not found/);
    await env.kc
      .makeApiClient(CustomObjectsApi)
      .deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-25' });
  },
);

test(
  'make k8s-ensure-ragas fails fast, long before K8S_TIMEOUT, when the DatasetState stays Failed or Degraded',
  { skip },
  async () => {
    const r = make('k8s-ensure-ragas', [
      'DOCS=26',
      'K8S_TIMEOUT=2h',
      'K8S_FAIL_AFTER=3',
      ...dataVars,
      'K8S_DB_SECRET=no-such-secret',
    ]);
    assert.notEqual(r.code, 0, r.all);
    assert.match(r.stderr, /dss\/ragas-26 has been (Failed|Degraded) for 3 s/);
    assert.match(r.stderr, /cannot read Secret ragas\/no-such-secret: not found/);
    const bad = make('k8s-ensure-ragas', ['DOCS=26', 'K8S_TIMEOUT=1h30m', ...dataVars]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /K8S_TIMEOUT must be N, Ns, Nm or Nh/);
    await env.kc
      .makeApiClient(CustomObjectsApi)
      .deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'ragas-26' });
  },
);

test(
  'make k8s-validate: exit 0 when every check passes; non-zero listing the failing checks, writing nothing',
  { skip },
  async () => {
    const ok = make('k8s-validate', ['DOCS=20', 'K8S_VALIDATE_TIMEOUT=120', ...dataVars]);
    assert.equal(ok.code, 0, ok.all);
    console.log(`# make k8s-validate DOCS=20 in ${ok.ms} ms`);
    assert.match(ok.stdout, /datasetstate.datastate.dev\/ragas-20-validate created/);
    assert.match(ok.stdout, /VALID: every check passed/);

    const before = rows('SELECT COUNT(*) AS n FROM SourceDocuments')[0]!.n;
    const bad = make('k8s-validate', ['DOCS=40', 'K8S_VALIDATE_TIMEOUT=120', ...dataVars]);
    assert.notEqual(bad.code, 0, bad.all); // make's own exit code for a failed recipe: 2
    assert.match(bad.stderr, /NOT VALID \(Degraded\):/);
    assert.match(bad.stderr, /FAILED document_count: 20 documents with an abstract, 20 short of 40/);
    assert.ok(!/FAILED schema_integrity/.test(bad.stderr), bad.stderr);
    assert.equal(
      rows('SELECT COUNT(*) AS n FROM SourceDocuments')[0]!.n,
      before,
      'ValidateOnly wrote nothing',
    );

    // Run again: the old verdict is not reused (the resource is created anew), and the answer is the same.
    const again = make('k8s-validate', ['DOCS=40', 'K8S_VALIDATE_TIMEOUT=120', ...dataVars]);
    assert.notEqual(again.code, 0, again.all);
    assert.match(again.stdout, /ragas-40-validate created/);
  },
);

test(
  'make k8s-status: the controller, its leader, every DatasetState and the failing checks',
  { skip },
  async () => {
    const r = make('k8s-status');
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /deployment.apps\/datastate-controller\s+0\/2/);
    const holder = /^leader: (\S+) \(renewed /m.exec(r.stdout)?.[1];
    assert.ok(holder && controller!.log.some((l) => l.includes(`${holder} is the leader`)), r.stdout);
    assert.match(r.stdout, /ragas\s+ragas-20\s+ragas-eval\s+20\s+20/);
    assert.match(r.stdout, /ragas\s+ragas-40-validate\s+ragas-eval\s+40/);
    assert.match(r.stdout, /FAILED document_count: /);
  },
);
