// A real Kubernetes API server for a test suite: etcd + kube-apiserver started by scripts/envtest.sh
// on free loopback ports in a temporary directory (no kubelet, no controllers: CRDs, RBAC, watches,
// ServiceAccount tokens and admission are the real ones). Or, when DATASTATE_TEST_KUBECONFIG names a
// kubeconfig, the cluster it points at (nothing is started or stopped then).
//
//   const env = await startEnvtest();
//   after(() => env.stop());
//   const api = env.kc.makeApiClient(CoreV1Api);
//
// The first run on a machine builds the binaries (~10 minutes on 2 cores with empty Go caches); later
// runs start in ~3.5 s.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(repoRoot, 'scripts', 'envtest.sh');

export interface Envtest {
  /** Path of a kubeconfig for the admin (system:masters) user. */
  kubeconfigPath: string;
  /** Loaded from kubeconfigPath. */
  kc: KubeConfig;
  /** https://127.0.0.1:PORT, or the external cluster's server. */
  server: string;
  /** The admin's bearer token; undefined for an external cluster whose user has no static token. */
  token: string | undefined;
  /** True when DATASTATE_TEST_KUBECONFIG pointed at an existing cluster. */
  external: boolean;
  /** Stops kube-apiserver, then etcd, and removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Creates the ServiceAccount if it does not exist and returns a token for it from the TokenRequest
   * API (signed by the server's service-account key; it authenticates as
   * system:serviceaccount:NAMESPACE:NAME and RBAC applies to it).
   */
  createServiceAccountToken(
    namespace: string,
    name: string,
    opts?: { expirationSeconds?: number; audiences?: string[] },
  ): Promise<string>;
  /** A KubeConfig for the same server (and CA) that authenticates with the given bearer token. */
  kubeConfigForToken(token: string): KubeConfig;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolvePort(port) : reject(new Error('no free port'))));
    });
  });
}

/** Runs scripts/envtest.sh; stderr goes to ours when `show` is set, else it is kept for the error. */
function runScript(args: string[], show = false): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('bash', [script, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', show ? 'inherit' : 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolveRun(out);
      else reject(new Error(`scripts/envtest.sh ${args.join(' ')} exited with ${code}\n${err}`));
    });
  });
}

function withHelpers(base: Omit<Envtest, 'createServiceAccountToken' | 'kubeConfigForToken'>): Envtest {
  const kubeConfigForToken = (token: string): KubeConfig => {
    const cluster = base.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'token-user', token }],
      contexts: [{ name: 'token', cluster: cluster.name, user: 'token-user' }],
      currentContext: 'token',
    });
    return kc;
  };
  const createServiceAccountToken: Envtest['createServiceAccountToken'] = async (namespace, name, opts) => {
    const core = base.kc.makeApiClient(CoreV1Api);
    try {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
    const tr = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: {
        spec: {
          audiences: opts?.audiences ?? [],
          expirationSeconds: opts?.expirationSeconds ?? 3600,
        },
      },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  };
  return { ...base, createServiceAccountToken, kubeConfigForToken };
}

/**
 * Starts etcd + kube-apiserver for one test suite (or returns the external cluster named by
 * DATASTATE_TEST_KUBECONFIG). Builds the binaries first if needed, printing that it does.
 */
export async function startEnvtest(): Promise<Envtest> {
  const external = process.env['DATASTATE_TEST_KUBECONFIG'];
  if (external) {
    const kc = new KubeConfig();
    kc.loadFromFile(external);
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error(`DATASTATE_TEST_KUBECONFIG=${external}: no current cluster`);
    return withHelpers({
      kubeconfigPath: external,
      kc,
      server,
      token: kc.getCurrentUser()?.token,
      external: true,
      stop: async () => {},
    });
  }

  // Builds the binaries if they are missing or out of date (the first time on a machine: minutes, and it
  // says so on stderr); otherwise a quick check that prints nothing.
  await runScript(['build', '--quiet'], true);

  const dir = await mkdtemp(join(tmpdir(), 'datastate-envtest-'));
  const apiPort = await freePort();
  let etcdPort = await freePort();
  while (etcdPort === apiPort) etcdPort = await freePort();

  // If the test process exits without stop() (a failed before(), process.exit()), stop the servers now.
  const onExit = (): void => {
    spawnSync('bash', [script, 'down', '--dir', dir, '--clean', '--quiet'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  try {
    await runScript([
      'up',
      '--dir',
      dir,
      '--api-port',
      String(apiPort),
      '--etcd-port',
      String(etcdPort),
      '--quiet',
      // A watchdog stops the servers when this process is gone, even if it was killed (no 'exit' event).
      '--owner-pid',
      String(process.pid),
      '--clean',
    ]);
  } catch (e) {
    process.removeListener('exit', onExit);
    onExit();
    throw e;
  }

  const kubeconfigPath = join(dir, 'kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const token = (await readFile(join(dir, 'token'), 'utf8')).trim();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', onExit);
      try {
        await runScript(['down', '--dir', dir, '--clean', '--quiet']);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })();
    return stopped;
  };
  return withHelpers({
    kubeconfigPath,
    kc,
    server: `https://127.0.0.1:${apiPort}`,
    token,
    external: false,
    stop,
  });
}
