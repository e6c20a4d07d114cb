/**
 * Scale-out on the real single-node cluster (scripts/cluster.sh): embedding throughput of one DatasetState with
 * exactly 1 worker pod vs exactly 2 (spec.workers.minReplicas = maxReplicas), each pod given one core as far as a
 * 2-core node allows: requests = limits = 1 CPU (Guaranteed QoS, a CFS quota of one core) and
 * spec.workers.threads 1 (one onnxruntime session with one intra-op thread per pod). Not a cpuset: kubelet's
 * static CPU manager hands out exclusive cores only next to a reserve of its own (reservedSystemCPUs), and 2
 * cores cannot give two exclusive ones plus a reserve. For the two 1-CPU requests to fit on the node, the
 * controller runs as one replica requesting no CPU while the bench runs (restored afterwards).
 * Measured side by side in one run on the same corpus, model and database; prints the ratio and the load
 * average; not a test (no timed assertion anywhere).
 *
 *   make cluster-up && make cluster-demo DOCS=200     # once: the chart, PostgreSQL, corpus, model
 *   node bench/cluster-scaleout.ts [--docs N] [--rounds R] [--small]
 *     (as root; defaults: 100 documents, 1 round, the BERT-base-shaped SYNTHETIC model, generated on first use)
 *
 * Each run heals N fresh documents into its own schema (SCALE<dim>_<replicas>_<round>): first untimed, only the
 * documents (targetState documents, loaded by the controller); then timed, the same DatasetState switched to
 * ragas-eval, so the worker pods embed and write them. Reported: seconds from that switch to Ready (worker pod
 * start and model load included), documents per second, the CPU the worker pods got (cores per pod, from their
 * cgroups) and /proc/loadavg before and after. Batches are docs/20 documents, so 2 pods can split them evenly.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const docs = arg('docs', 100);
const rounds = arg('rounds', 1);
const batchSize = Math.max(1, Math.ceil(docs / 20));
// bert-base: the BERT-base-shaped SYNTHETIC model (h768/L12, 436 MB), where inference dominates; small: h32.
const preset = process.argv.includes('--small') ? 'small' : 'bert-base';
const modelDir = preset === 'small' ? 'encoder' : 'bert-base';
const dim = preset === 'small' ? 32 : 768;

const envOut = spawnSync('bash', [join(root, 'scripts/cluster.sh'), 'env'], { encoding: 'utf8' }).stdout;
const env = {
  ...process.env,
  KUBECONFIG: /KUBECONFIG='([^']+)'/.exec(envOut)![1]!,
  PATH: `${/PATH='([^']+)'/.exec(envOut)![1]!}:${process.env.PATH}`,
};

function sh(cmd: string, input?: string): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', env, cwd: root, input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

if (sh('kubectl get dss -o name 2>/dev/null || true').trim() === '')
  throw new Error(
    'run `make cluster-up && make cluster-demo DOCS=200` first (chart, database, corpus, model)',
  );
// The model, generated on first use next to the demo's (the pods see that directory through hostPath volumes).
const models = join(root, '.datastate', 'cluster-demo', 'models');
sh(
  `[ -f ${models}/${modelDir}/model.onnx ] || node src/cli/main.ts gen-model --preset ${preset} ${models}/${modelDir}` +
    ` >/dev/null && chmod -R a+rX ${models}`,
);

function manifest(name: string, schema: string, replicas: number, target: string): string {
  const base = sh(
    `make -s k8s-render DOCS=${docs} K8S_NAME=${name} K8S_DIALECT=postgres ` +
      `K8S_SOURCE=/data/pmc-oa/pmc-oa.tar.gz K8S_MODEL=/models/${modelDir} K8S_DIM=${dim}`,
  )
    .replace(/schema: RAG/, `schema: ${schema}`)
    .replace(/targetState: ragas-eval/, `targetState: ${target}`)
    // Batches of docs/20: 20 batches, 10 per pod with 2 pods. (batchSize auto gives 16 for 100 documents: 7
    // batches, 4 + 3 with 2 pods, which caps the ratio at 1.56x whatever the pods do.)
    .replace(/batchSize: auto/, `batchSize: ${batchSize}`);
  return (
    base.trimEnd() +
    `\n  workers:\n    minReplicas: ${replicas}\n    maxReplicas: ${replicas}\n    threads: 1\n` +
    '    resources: { requests: { cpu: "1", memory: 3Gi }, limits: { cpu: "1", memory: 3Gi } }\n'
  );
}

const PG = 'postgres://datastate:datastate@10.244.0.1:55433/postgres';
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function ready(name: string): void {
  sh(
    `kubectl wait --for=jsonpath='{.status.observedGeneration}'=$(kubectl get dss ${name} -o jsonpath='{.metadata.generation}') dss/${name} --timeout=10m`,
  );
  sh(`kubectl wait --for=condition=Ready dss/${name} --timeout=60m`);
}

/** CPU seconds a pod's cgroup has used so far (cgroup v1 cpuacct, as kubelet sets it up here), 0 when not found. */
function podCpuSeconds(uid: string): number {
  for (const qos of ['', 'burstable/', 'besteffort/']) {
    try {
      return (
        Number(readFileSync(`/sys/fs/cgroup/cpuacct/kubepods/${qos}pod${uid}/cpuacct.usage`, 'utf8')) / 1e9
      );
    } catch {
      // not in this QoS class
    }
  }
  return 0;
}
/** Worker pods of a DatasetState: uid -> CPU seconds used so far. */
function workerCpu(name: string): Map<string, number> {
  const uids = sh(`kubectl get pods -l datastate.dev/dataset=${name} -o jsonpath='{.items[*].metadata.uid}'`)
    .split(/\s+/)
    .filter(Boolean);
  return new Map(uids.map((u) => [u, podCpuSeconds(u)]));
}

function heal(replicas: number, round: number): { seconds: number; load: string; cpu: string } {
  const name = `scale-${replicas}-${round}`;
  const schema = `SCALE${dim}_${replicas}_${round}`;
  sh(`kubectl delete dss ${name} --ignore-not-found --wait`);
  // From the empty state: the demo's PostgreSQL (scripts/cluster-demo.sh), reached from the host on the node address.
  sh(`psql -q ${PG} -c 'DROP SCHEMA IF EXISTS "${schema}" CASCADE' 2>&1`);
  sh('kubectl apply -f -', manifest(name, schema, replicas, 'documents'));
  ready(name);
  const before = loadavg();
  const cpuBefore = workerCpu(name);
  const t0 = process.hrtime.bigint();
  sh('kubectl apply -f -', manifest(name, schema, replicas, 'ragas-eval'));
  ready(name);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const load = `load average ${before} -> ${loadavg()}`;
  // What the worker pods got of the CPU while the timed part ran: 1.0 = one full core per pod.
  const used = [...workerCpu(name)].map(([uid, s]) => s - (cpuBefore.get(uid) ?? 0));
  const cpu = used.map((s) => `${(s / seconds).toFixed(2)}`).join(' + ') + ' cores';
  sh(`kubectl delete dss ${name} --wait`);
  return { seconds, load, cpu };
}

// Room for two 1-CPU worker pods on the 2-core node: one controller replica, requesting no CPU.
const values = join(root, '.datastate', 'cluster-demo', 'values.yaml');
const install = (flags: string): string =>
  sh(`make -s k8s-install K8S_HELM_FLAGS="-f ${values} ${flags}" K8S_INSTALL_WAIT=3m`);
install('--set replicaCount=1 --set-string resources.requests.cpu=0');
const rows: { replicas: number; seconds: number }[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    // Alternate the order between rounds so a warming machine favours neither side.
    for (const replicas of round % 2 ? [1, 2] : [2, 1]) {
      const { seconds, load, cpu } = heal(replicas, round);
      rows.push({ replicas, seconds });
      console.log(
        `${replicas} worker pod(s): ${docs} docs embedded in ${seconds.toFixed(1)} s = ${(docs / seconds).toFixed(2)} docs/s; worker CPU ${cpu}; ${load}`,
      );
    }
  }
} finally {
  install('');
}
const mean = (r: number): number => {
  const xs = rows.filter((x) => x.replicas === r).map((x) => x.seconds);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(
  `throughput ratio 2 pods / 1 pod: ${(mean(1) / mean(2)).toFixed(2)}x (${docs} docs, ${rounds} round(s), ${preset} model; ${loadavg()} now)`,
);
