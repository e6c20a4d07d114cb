// End to end on a real single-node cluster (scripts/cluster.sh): the image of `make image` runs the controller
// (two replicas, leader election through a Lease, its own ServiceAccount token and RBAC) and the embedding
// workers as pods; PostgreSQL listens on the node's bridge address; the PMC corpus and a small SYNTHETIC model
// reach the pods through hostPath volumes (a PersistentVolume for the workers). Then the failures a cluster
// brings, the make targets a user runs, and cluster-down leaving the host as it found it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterSkipReason, hostSnapshot, startCluster, type Cluster } from '../helpers/cluster.ts';

const skip = clusterSkipReason();
const K8S_VARS = [
  'K8S_DIALECT=postgres',
  'K8S_SOURCE=/data/pmc-oa/pmc-oa.tar.gz',
  'K8S_MODEL=/models/encoder',
  'K8S_DIM=32',
  'K8S_TIMEOUT=15m',
];

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
    assert.match(s.out, /ragas-200 +ragas-eval +200 +200 +100 +Ready/);
  });

  test('a worker pod deleted mid-heal: the Deployment replaces it, no partial document', async () => {
    cluster.run('bash', ['-c', `make -s k8s-render DOCS=600 ${K8S_VARS.join(' ')} | kubectl apply -f -`]);
    const victim = await until('a running worker pod', () => {
      const names = cluster.kubectl(
        'get',
        'pods',
        '-l',
        'datastate.dev/dataset=ragas-600',
        '--field-selector',
        'status.phase=Running',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      );
      return names.trim() ? names.trim().split(/\s+/)[0] : undefined;
    });
    cluster.kubectl('delete', 'pod', victim!, '--wait=false');
    const w = cluster.run('kubectl', ['wait', '--for=condition=Ready', 'dss/ragas-600', '--timeout=15m']);
    assert.equal(w.status, 0, w.stderr);
    const v = make('k8s-validate', 'DOCS=600');
    assert.equal(v.status, 0, v.out);
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

  test('cluster-down leaves no process, mount, interface, cgroup, iptables/nft rule or sysctl behind', () => {
    cluster.stop();
    assert.equal(hostSnapshot(), before_);
  });
});
