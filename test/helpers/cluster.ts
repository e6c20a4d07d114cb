// The real single-node cluster of scripts/cluster.sh (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet + containerd + runc, CNI bridge) for a test suite.
//
//   const cluster = startCluster();          // builds the image, the binaries (cached), starts; throws on failure
//   after(() => cluster.stop());              // also stopped when the process exits, however the test ends
//   cluster.kubectl('get', 'pods', '-A');
//
// Needs root on Linux (containerd, runc, kubelet); clusterSkipReason() says why it cannot run here.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(repoRoot, 'scripts', 'cluster.sh');
/** Written after a test's `up`: scripts/ci-cluster.sh --cleanup removes only a cluster a test started. */
const testMarker = join(repoRoot, '.datastate', 'cluster', 'started-by-test');

export interface Cluster {
  kubeconfigPath: string;
  /** Environment for child processes: KUBECONFIG and PATH with kubectl and helm. */
  env: NodeJS.ProcessEnv;
  /** Runs kubectl; throws on a non-zero exit with its stderr. */
  kubectl(...args: string[]): string;
  /** Runs a command with the cluster's environment; returns the result without throwing. */
  run(cmd: string, args: string[], opts?: { timeoutMs?: number }): SpawnSyncReturns<string>;
  /** make cluster-down. Idempotent. */
  stop(): void;
}

export function clusterSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the cluster runs on Linux only';
  if (process.getuid?.() !== 0) return 'the cluster needs root (containerd, runc, kubelet)';
  // One cluster per machine (the cni0 bridge, the node address): never touch one a user started.
  if (existsSync(join(repoRoot, '.datastate', 'cluster', 'kubeconfig')) && !existsSync(testMarker))
    return 'a cluster of make cluster-up is running in this checkout (make cluster-down first)';
  return undefined;
}

/** `scripts/cluster.sh snapshot`: what cluster-down must leave as it found it. */
export function hostSnapshot(): string {
  const r = spawnSync('bash', [script, 'snapshot'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cluster.sh snapshot failed: ${r.stderr}`);
  return r.stdout;
}

export function startCluster(): Cluster {
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    spawnSync('bash', [join(repoRoot, 'scripts', 'cluster-demo.sh'), 'clean'], { stdio: 'ignore' });
    const r = spawnSync('bash', [script, 'down'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cluster.sh down failed: ${r.stderr}`);
  };
  process.on('exit', stop);
  // The image from the sources as they are now (~20 s), so a test never runs a stale one.
  const image = spawnSync('bash', [join(repoRoot, 'scripts', 'build-image.sh')], { encoding: 'utf8' });
  if (image.status !== 0) throw new Error(`build-image.sh failed (exit ${image.status}):\n${image.stderr}`);
  const up = spawnSync('bash', [script, 'up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (up.status !== 0) {
    stop();
    throw new Error(`cluster.sh up failed (exit ${up.status}):\n${up.stderr}`);
  }
  writeFileSync(testMarker, `${process.pid}\n`);
  const envLines = spawnSync('bash', [script, 'env'], { encoding: 'utf8' }).stdout;
  const kubeconfigPath = /KUBECONFIG='([^']+)'/.exec(envLines)![1]!;
  const binPath = /PATH='([^']+)'/.exec(envLines)![1]!;
  const env = { ...process.env, KUBECONFIG: kubeconfigPath, PATH: `${binPath}:${process.env.PATH}` };
  const run = (cmd: string, args: string[], opts: { timeoutMs?: number } = {}): SpawnSyncReturns<string> =>
    spawnSync(cmd, args, {
      encoding: 'utf8',
      env,
      cwd: repoRoot,
      timeout: opts.timeoutMs ?? 20 * 60_000,
      maxBuffer: 64 << 20,
    });
  const kubectl = (...args: string[]): string => {
    const r = run('kubectl', args, { timeoutMs: 5 * 60_000 });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { kubeconfigPath, env, kubectl, run, stop };
}
