// End to end on a real single-node cluster (scripts/cluster.sh): the image of `make image` runs the controller
// (two replicas, leader election through a Lease, its own ServiceAccount token and RBAC) and the embedding
// workers as pods; PostgreSQL listens on the node's bridge address; the PMC corpus and a small SYNTHETIC model
// reach the pods through hostPath volumes (a PersistentVolume for the workers). Then the failures a cluster
// brings, the make targets a user runs, and cluster-down leaving the host as it found it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterSkipReason, hostSnapshot, repoRoot, startCluster, type Cluster } from '../helpers/cluster.ts';

const skip = clusterSkipReason();
const K8S_VARS = [
  'K8S_DIALECT=postgres',
  'K8S_SOURCE=/data/pmc-oa/pmc-oa.tar.gz',
  'K8S_MODEL=/models/encoder',
  'K8S_DIM=32',
  // Short waits that fail with the DatasetState's status (lastError, conditions), not make's default 2 h.
  'K8S_TIMEOUT=8m',
  'K8S_FAIL_AFTER=60',
];
const DEMO_VALUES = join(repoRoot, '.datastate', 'cluster-demo', 'values.yaml');

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('a real single-node cluster', { skip, timeout: 40 * 60_000 }, () => {
  let before_: string;
  let cluster: Cluster;

  before(() => {
    before_ = hostSnapshot();
    cluster = startCluster();
  });
  after(() => cluster?.stop());

  function make(...args: string[]): { status: number | null; out: string } {
    const r = cluster.run('make', ['-s', ...args, ...K8S_VARS]);
    return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
  }
  function workerEvents(dataset: string): string {
    return cluster.kubectl(
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${dataset}-embedder`,
      '-o',
      'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    );
  }
  async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(500);
    }
  }
  interface Dss {
    metadata: { generation: number };
    status?: {
      observedGeneration?: number;
      phase?: string;
      lastError?: string;
      conditions?: { type: string; status: string; reason: string; message: string }[];
    };
  }
  const dss = (name: string): Dss => JSON.parse(cluster.kubectl('get', 'dss', name, '-o', 'json')) as Dss;
  /**
   * Until the DatasetState is Ready for its current generation; fails at once with its lastError and
   * conditions when it stays Failed or Degraded for a minute (as make k8s-ensure-ragas does).
   */
  async function ready(name: string, timeoutMs = 8 * 60_000): Promise<void> {
    let badSince: number | undefined;
    await until(
      `dss/${name} Ready`,
      () => {
        const o = dss(name);
        const current = o.status?.observedGeneration === o.metadata.generation;
        if (current && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          return true;
        if (current && /^(Failed|Degraded)$/.test(o.status?.phase ?? '')) {
          badSince ??= Date.now();
          if (Date.now() - badSince > 60_000)
            throw new Error(
              `dss/${name} stays ${o.status!.phase}: lastError ${o.status!.lastError ?? '-'}; conditions ` +
                JSON.stringify(o.status!.conditions),
            );
        } else badSince = undefined;
        return undefined;
      },
      timeoutMs,
    );
  }
  /** The ragas DatasetState of `docs` documents (make k8s-render), with exactly `replicas` worker pods. */
  function applyRagas(docs: number, replicas: number): void {
    const r = cluster.run('bash', [
      '-c',
      `set -o pipefail; { make -s k8s-render DOCS=${docs} ${K8S_VARS.join(' ')}; ` +
        `printf '  workers: {minReplicas: ${replicas}, maxReplicas: ${replicas}}\\n'; } | kubectl apply -f -`,
    ]);
    assert.equal(r.status, 0, r.stderr);
  }
  interface Pod {
    metadata: { name: string; uid: string };
    status: {
      phase: string;
      conditions?: { type: string; status: string }[];
      containerStatuses?: {
        restartCount: number;
        lastState?: { terminated?: { reason?: string; exitCode?: number } };
      }[];
    };
  }
  const workerPods = (dataset: string): Pod[] =>
    (
      JSON.parse(cluster.kubectl('get', 'pods', '-l', `datastate.dev/dataset=${dataset}`, '-o', 'json')) as {
        items: Pod[];
      }
    ).items;
  const isReady = (p: Pod): boolean =>
    p.status.phase === 'Running' &&
    Boolean(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  const leaseHolder = (): string =>
    cluster.kubectl(
      '-n',
      'datastate-system',
      'get',
      'lease',
      'datastate-controller',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    );

  test('make cluster-demo DOCS=200: worker pods embed 200 PMC documents, replicas back to 0', () => {
    const r = cluster.run('bash', ['scripts/cluster-demo.sh', '200']);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /READY/);
    assert.match(r.stdout, /check token_embeddings_complete: passed=true/);
    const images = cluster.kubectl(
      '-n',
      'datastate-system',
      'get',
      'pods',
      '-o',
      'jsonpath={.items[*].spec.containers[0].image}',
    );
    assert.match(images, /^localhost\/datastate:/);
    // The controller scaled the worker Deployment up (a ReplicaSet made worker pods) and back to 0.
    assert.match(workerEvents('ragas-200'), /Scaled up replica set ragas-200-embedder-\w+ from 0 to [1-9]/);
    assert.equal(
      cluster.kubectl('get', 'deployment', 'ragas-200-embedder', '-o', 'jsonpath={.spec.replicas}'),
      '0',
    );
  });

  test('make k8s-validate and k8s-status against the cluster', () => {
    const v = make('k8s-validate', 'DOCS=200');
    assert.equal(v.status, 0, v.out);
    assert.match(v.out, /VALID: every check passed/);
    const s = make('k8s-status');
    assert.equal(s.status, 0, s.out);
    assert.match(s.out, /leader: datastate-controller-/);
    assert.match(s.out, /ragas-200 +ragas-eval +200 +200 +100 +0 +Ready/);
  });

  test('the NetworkPolicies and PodDisruptionBudgets of the chart and of the worker Deployments exist', () => {
    const names = cluster
      .kubectl(
        'get',
        'networkpolicy,pdb',
        '-A',
        '-o',
        'jsonpath={range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name}{"\\n"}{end}',
      )
      .trim()
      .split('\n');
    for (const want of [
      'NetworkPolicy datastate-system/datastate-controller',
      'PodDisruptionBudget datastate-system/datastate-controller',
      'NetworkPolicy default/ragas-200-embedder',
      'PodDisruptionBudget default/ragas-200-embedder',
    ])
      assert.ok(names.includes(want), `${want} missing from:\n${names.join('\n')}`);
  });

  test('a worker pod deleted mid-heal: the Deployment starts a replacement, the heal completes, no partial document', async () => {
    // Exactly 2 worker pods for the pass, so the ReplicaSet must replace the deleted one (with the replicas
    // following the backlog, it might be scaled away instead).
    applyRagas(600, 2);
    const victim = await until('a ready worker pod', () => workerPods('ragas-600').find(isReady));
    const existing = new Set(workerPods('ragas-600').map((p) => p.metadata.uid));
    assert.notEqual(dss('ragas-600').status?.phase, 'Ready', 'the heal is still running');
    cluster.kubectl('delete', 'pod', victim.metadata.name, '--wait=false');
    // A pod that did not exist when the victim was deleted: the ReplicaSet's replacement, started and ready.
    const replacement = await until('a replacement worker pod, Running and Ready', () =>
      workerPods('ragas-600').find((p) => !existing.has(p.metadata.uid) && isReady(p)),
    );
    assert.notEqual(replacement.metadata.uid, victim.metadata.uid);
    await ready('ragas-600');
    const v = make('k8s-validate', 'DOCS=600');
    assert.equal(v.status, 0, v.out);
    // Garbage collection (kube-controller-manager): the DatasetState's worker objects go with it.
    cluster.kubectl('delete', 'dss', 'ragas-600', '--wait=true');
    await until('the worker objects of ragas-600 collected', () =>
      cluster
        .kubectl('get', 'deployment,service,secret', '-l', 'datastate.dev/dataset=ragas-600', '-o', 'name')
        .trim() === ''
        ? true
        : undefined,
    );
  });

  test('the leader controller pod killed: the other replica takes over through the Lease and heals', async () => {
    const holder = leaseHolder();
    const pod = holder.replace(/-\d+-[0-9a-f]+$/, '');
    cluster.kubectl('-n', 'datastate-system', 'delete', 'pod', pod, '--grace-period=0', '--force');
    const next = await until('a new leader', () => {
      const h = leaseHolder();
      return h && !h.startsWith(pod) ? h : undefined;
    });
    assert.notEqual(next, holder);
    const r = make('k8s-ensure-ragas', 'DOCS=650');
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /READY/);
  });

  test('a worker container killed for memory (OOMKilled): its batch is retried, the heal reaches Ready, no partial document', async () => {
    // Not kubelet's node-pressure eviction: that needs the whole node low on memory, which a shared machine
    // must not be driven into. The nearest real thing: the kernel's OOM killer ending a worker container at
    // its memory limit. The test-only fault DATASTATE_WORKER_FAULT=oom-once (src/worker/fault.ts) makes each
    // worker pod allocate past its limit on its first batch; the limit is lowered to 768Mi for this.
    const oomValues = join(repoRoot, '.datastate', 'cluster-demo', 'oom-values.yaml');
    writeFileSync(
      oomValues,
      [
        'controller:',
        '  extraArgs: ["--worker-env", "DATASTATE_WORKER_FAULT=oom-once"]',
        'workers:',
        '  resources: { requests: { memory: 256Mi }, limits: { memory: 768Mi } }',
        '',
      ].join('\n'),
    );
    const up = make('k8s-install', `K8S_HELM_FLAGS=-f ${DEMO_VALUES} -f ${oomValues}`, 'K8S_INSTALL_WAIT=3m');
    assert.equal(up.status, 0, up.out);
    applyRagas(800, 2);
    const killed = await until(
      'a worker container terminated with reason OOMKilled',
      () =>
        workerPods('ragas-800').find((p) =>
          p.status.containerStatuses?.some((c) => c.lastState?.terminated?.reason === 'OOMKilled'),
        ),
      4 * 60_000,
    );
    assert.ok(killed.status.containerStatuses![0]!.restartCount >= 1);
    await ready('ragas-800');
    // The controller retried the batch the killed worker had (a Warning event per failed attempt).
    const events = cluster.kubectl(
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=ragas-800,reason=BatchFailed',
      '-o',
      'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    );
    assert.match(events, /batch of \d+ documents: worker ragas-800-embedder-/);
    const v = make('k8s-validate', 'DOCS=800');
    assert.equal(v.status, 0, v.out);
  });

  test('cluster-down leaves no process, mount, interface, cgroup, iptables/nft rule or sysctl behind', () => {
    cluster.stop();
    const sections = (snap: string): Map<string, string[]> => {
      const m = new Map<string, string[]>();
      let cur = '';
      for (const line of snap.split('\n')) {
        if (line.startsWith('== ')) m.set((cur = line.slice(3)), []);
        else if (line) m.get(cur)!.push(line);
      }
      return m;
    };
    const was = sections(before_);
    const now = sections(hostSnapshot());
    assert.deepEqual([...now.keys()], [...was.keys()]);
    for (const [name, lines] of now) {
      // The machine's own process manager makes and removes cgroups meanwhile: none may be new, and no
      // kubepods cgroup may remain.
      if (name === 'cgroups')
        assert.deepEqual(
          lines.filter((l) => !was.get(name)!.includes(l)),
          [],
          'new cgroups',
        );
      else assert.deepEqual(lines, was.get(name), name);
    }
  });
});
