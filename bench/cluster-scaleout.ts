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
 *   node bench/cluster-scaleout.ts [--docs N] [--rounds R] [--small] [--in-flight K]
 *     (as root; defaults: 100 documents, 1 round, the BERT-base-shaped SYNTHETIC model, generated on first use)
 *
 * Each run heals N fresh documents into its own schema (SCALE<dim>_<replicas>_<round>): first untimed, only the
 * documents (targetState documents, loaded by the controller); then timed, the same DatasetState switched to
 * ragas-eval, so the worker pods embed and write them. Reported: seconds from that switch to Ready (worker pod
 * start and model load included), documents per second, the CPU the worker pods got (cores per pod, from their
 * cgroups) and /proc/loadavg before and after. Batches are docs/20 documents, so 2 pods can split them evenly.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const docs = arg('docs', 100);
const rounds = arg('rounds', 1);
// Batches in flight per worker pod (the chart's workers.inFlightPerEndpoint; the pods take as many at once).
const inFlight = arg('in-flight', 1);
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
  // Ready (kubectl wait watches, so the wait costs no CPU), or give up once the DatasetState has been Failed or
  // Degraded at two checks a minute apart (an image older than the checkout's CRD refuses its fields, say),
  // saying why, instead of waiting out the hour.
  let bad = 0;
  for (let minute = 0; minute < 60; minute++) {
    const w = spawnSync('kubectl', ['wait', '--for=condition=Ready', `dss/${name}`, '--timeout=60s'], {
      env,
    });
    if (w.status === 0) return;
    const [phase, error] = sh(
      `kubectl get dss ${name} -o jsonpath='{.status.phase}|{.status.lastError}'`,
    ).split('|');
    bad = phase === 'Failed' || phase === 'Degraded' ? bad + 1 : 0;
    if (bad >= 2) throw new Error(`dss/${name} is ${phase}: ${error}`);
  }
  throw new Error(`dss/${name} not Ready within an hour`);
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

/** Busy and idle jiffies of the whole machine so far (/proc/stat's first line). */
function machineJiffies(): { busy: number; idle: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!; // idle + iowait
  return { busy: f.reduce((a, b) => a + b, 0) - idle, idle };
}
/**
 * CPU jiffies used so far by every live process, summed per group: a pod's processes by the pod (its cgroup names
 * the pod uid), every other process by its command name (kube-apiserver, etcd, postgres, containerd, ...).
 */
function cpuByGroup(podNames: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const jiffies = Number(f[11]) + Number(f[12]); // utime + stime
      const uid = /kubepods\/(?:[a-z]+\/)?pod([0-9a-f-]+)/.exec(
        readFileSync(`/proc/${pid}/cgroup`, 'utf8'),
      )?.[1];
      const group = uid ? (podNames.get(uid) ?? 'other pod') : comm;
      out.set(group, (out.get(group) ?? 0) + jiffies);
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}
/** Pod uid -> a readable name: worker pods of this DatasetState as "worker pod N", the rest by pod name. */
function podNames(name: string): Map<string, string> {
  const rows = sh(
    `kubectl get pods -A -o jsonpath='{range .items[*]}{.metadata.uid} {.metadata.name} {.metadata.labels.datastate\\.dev/dataset}{"\\n"}{end}'`,
  )
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
  let n = 0;
  return new Map(rows.map(([uid, pod, ds]) => [uid!, ds === name ? `worker pod ${++n}` : `pod ${pod}`]));
}
/**
 * The embedding window from the worker pods' own logs: from the start of the first batch (its "batch done" time
 * minus its seconds) to the end of the last, over all pods: the time the workers were embedding, without the
 * controller's pass, pod start and model load before it.
 */
function embeddingWindow(name: string): { seconds: number; batches: number } {
  const pods = sh(`kubectl get pods -l datastate.dev/dataset=${name} -o jsonpath='{.items[*].metadata.name}'`)
    .split(/\s+/)
    .filter(Boolean);
  let first = Infinity;
  let last = -Infinity;
  let batches = 0;
  for (const pod of pods)
    for (const line of sh(`kubectl logs ${pod}`).split('\n')) {
      if (!line.includes('"batch done"')) continue;
      const r = JSON.parse(line) as { time: string; seconds: number };
      const end = Date.parse(r.time) / 1000;
      first = Math.min(first, end - r.seconds);
      last = Math.max(last, end);
      batches++;
    }
  return { seconds: last - first, batches };
}

function heal(
  replicas: number,
  round: number,
): { seconds: number; embedSeconds: number; load: string; cpu: string; where: string } {
  const name = `scale-${replicas}-${round}`;
  const schema = `SCALE${dim}_${replicas}_${round}`;
  sh(`kubectl delete dss ${name} --ignore-not-found --wait`);
  // From the empty state: the demo's PostgreSQL (scripts/cluster-demo.sh), reached from the host on the node address.
  sh(`psql -q ${PG} -c 'DROP SCHEMA IF EXISTS "${schema}" CASCADE' 2>&1`);
  sh('kubectl apply -f -', manifest(name, schema, replicas, 'documents'));
  ready(name);
  const before = loadavg();
  const cpuBefore = workerCpu(name);
  const jBefore = machineJiffies();
  const names = podNames(name);
  const groupsBefore = cpuByGroup(names);
  const t0 = process.hrtime.bigint();
  sh('kubectl apply -f -', manifest(name, schema, replicas, 'ragas-eval'));
  ready(name);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const jAfter = machineJiffies();
  // Worker pods start after t0 (the controller scales them from 0 when there is embedding work): named now.
  for (const [uid, pod] of podNames(name)) names.set(uid, pod);
  const groupsAfter = cpuByGroup(names);
  const load = `load average ${before} -> ${loadavg()}`;
  // What the worker pods got of the CPU while the timed part ran: 1.0 = one full core per pod.
  const used = [...workerCpu(name)].map(([uid, s]) => s - (cpuBefore.get(uid) ?? 0));
  const cpu = used.map((s) => `${(s / seconds).toFixed(2)}`).join(' + ') + ' cores';
  // Where the node's CPU went meanwhile, in cores over the timed part: the biggest users besides the worker
  // pods (a process that started after t0 counts whole, one that ended before the end is missed), and the
  // machine's idle share.
  const hz = 100;
  const spent = [...groupsAfter]
    .map(([g, j]) => [g, (j - (groupsBefore.get(g) ?? 0)) / hz / seconds] as const)
    .filter(([g]) => !g.startsWith('worker pod'))
    .sort((a, b) => b[1] - a[1]);
  const idle = (jAfter.idle - jBefore.idle) / (jAfter.idle - jBefore.idle + jAfter.busy - jBefore.busy);
  const others = spent.reduce((a, [, c]) => a + c, 0);
  const where =
    `machine idle ${(idle * 100).toFixed(0)}%; besides the worker pods ${others.toFixed(2)} cores: ` +
    spent
      .slice(0, 8)
      .map(([g, c]) => `${g} ${c.toFixed(2)}`)
      .join(', ');
  const window = embeddingWindow(name);
  sh(`kubectl delete dss ${name} --wait`);
  return { seconds, embedSeconds: window.seconds, load, cpu, where };
}

// Room for two 1-CPU worker pods on the 2-core node: one controller replica, requesting no CPU.
const values = join(root, '.datastate', 'cluster-demo', 'values.yaml');
const install = (flags: string): string =>
  sh(`make -s k8s-install K8S_HELM_FLAGS="-f ${values} ${flags}" K8S_INSTALL_WAIT=3m`);
install(
  `--set replicaCount=1 --set-string resources.requests.cpu=0 --set workers.inFlightPerEndpoint=${inFlight}`,
);
const rows: { replicas: number; seconds: number; embedSeconds: number }[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    // Alternate the order between rounds so a warming machine favours neither side.
    for (const replicas of round % 2 ? [1, 2] : [2, 1]) {
      const { seconds, embedSeconds, load, cpu, where } = heal(replicas, round);
      rows.push({ replicas, seconds, embedSeconds });
      console.log(
        `${replicas} worker pod(s): ${docs} docs embedded in ${seconds.toFixed(1)} s = ${(docs / seconds).toFixed(2)} docs/s ` +
          `(the workers' embedding window ${embedSeconds.toFixed(1)} s = ${(docs / embedSeconds).toFixed(2)} docs/s); ` +
          `worker CPU ${cpu}; ${load}\n    ${where}`,
      );
    }
  }
} finally {
  install('');
}
const mean = (r: number, key: 'seconds' | 'embedSeconds'): number => {
  const xs = rows.filter((x) => x.replicas === r).map((x) => x[key]);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(
  `throughput ratio 2 pods / 1 pod: ${(mean(1, 'seconds') / mean(2, 'seconds')).toFixed(2)}x switch to Ready, ` +
    `${(mean(1, 'embedSeconds') / mean(2, 'embedSeconds')).toFixed(2)}x over the embedding window ` +
    `(${docs} docs, ${rounds} round(s), ${preset} model, ${inFlight} batch(es) in flight per pod; ${loadavg()} now)`,
);
