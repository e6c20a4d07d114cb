/**
 * Scale-out on the real single-node cluster (scripts/cluster.sh): healing throughput of one DatasetState with
 * exactly 1 worker pod vs exactly 2 (spec.workers.minReplicas = maxReplicas), each pod given one core
 * (a CFS quota of one core: limits 1 CPU; requests 900m, so that two fit next to the controller's 2 × 100m on a
 * 2-core node), measured side by side in one run on
 * the same corpus, model and database. Prints the ratio; not a test (no timed assertion anywhere).
 *
 *   make cluster-up && make cluster-demo DOCS=200     # once: the chart, PostgreSQL, corpus, model
 *   node bench/cluster-scaleout.ts [--docs N] [--rounds R] [--small]
 *     (as root; defaults: 100 documents, 1 round, the BERT-base-shaped SYNTHETIC model, generated on first use)
 *
 * Each run heals N fresh documents into its own schema (SCALE<dim>_<replicas>_<round>) from the empty state:
 * documents loaded by the controller, then embedded by the worker pods. Reported: seconds from `kubectl apply`
 * to Ready, and documents per second.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const docs = arg('docs', 100);
const rounds = arg('rounds', 1);
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

function manifest(name: string, schema: string, replicas: number): string {
  const base = sh(
    `make -s k8s-render DOCS=${docs} K8S_NAME=${name} K8S_DIALECT=postgres ` +
      `K8S_SOURCE=/data/pmc-oa/pmc-oa.tar.gz K8S_MODEL=/models/${modelDir} K8S_DIM=${dim}`,
  ).replace(/schema: RAG/, `schema: ${schema}`);
  return (
    base.trimEnd() +
    `\n  workers:\n    minReplicas: ${replicas}\n    maxReplicas: ${replicas}\n` +
    '    resources: { requests: { cpu: 900m, memory: 3Gi }, limits: { cpu: "1", memory: 3Gi } }\n'
  );
}

const PG = 'postgres://datastate:datastate@10.244.0.1:55433/postgres';

function heal(replicas: number, round: number): number {
  const name = `scale-${replicas}-${round}`;
  const schema = `SCALE${dim}_${replicas}_${round}`;
  sh(`kubectl delete dss ${name} --ignore-not-found --wait`);
  // From the empty state: the demo's PostgreSQL (scripts/cluster-demo.sh), reached from the host on the node address.
  sh(`psql -q ${PG} -c 'DROP SCHEMA IF EXISTS "${schema}" CASCADE' 2>&1`);
  const t0 = process.hrtime.bigint();
  sh('kubectl apply -f -', manifest(name, schema, replicas));
  sh(`kubectl wait --for=condition=Ready dss/${name} --timeout=60m`);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  sh(`kubectl delete dss ${name} --wait`);
  return s;
}

const rows: { replicas: number; seconds: number }[] = [];
for (let round = 1; round <= rounds; round++) {
  // Alternate the order between rounds so a warming machine favours neither side.
  for (const replicas of round % 2 ? [1, 2] : [2, 1]) {
    const seconds = heal(replicas, round);
    rows.push({ replicas, seconds });
    console.log(
      `${replicas} worker pod(s): ${docs} docs in ${seconds.toFixed(1)} s = ${(docs / seconds).toFixed(1)} docs/s`,
    );
  }
}
const mean = (r: number): number => {
  const xs = rows.filter((x) => x.replicas === r).map((x) => x.seconds);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(
  `throughput ratio 2 pods / 1 pod: ${(mean(1) / mean(2)).toFixed(2)}x (${docs} docs, ${rounds} round(s))`,
);
