/**
 * The objects the controller writes for the embedding workers of one DatasetState, as plain manifests (no
 * I/O): the Deployment, its Service, the NetworkPolicy that admits only the controller's Pods to the batch
 * API, the PodDisruptionBudget, the token Secret and (for an inline database URL with a password) the
 * database Secret; and the replica count for a backlog.
 * worker-dispatcher.ts applies them; tests score them.
 */
import { THREADS_ENV } from '../worker/wire.ts';
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { API_VERSION, KIND, type DatasetStateSpec } from '../api/schema.ts';
import { redactSecrets } from '../store/url.ts';

export interface WorkerSettings {
  /** Image for the workers when the spec names none (the controller's own image). */
  image: string;
  /** imagePullPolicy of the worker container; unset: the Kubernetes default for the image's tag. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Resources of the worker container for what the DatasetState's spec.workers.resources does not name. */
  resources?: V1ResourceRequirements;
  /** Batches one worker is expected to take during a pass: replicas = ceil(backlog / this). */
  batchesPerWorker: number;
  /** Batches in flight per endpoint at most. */
  inFlightPerEndpoint: number;
  /** A PersistentVolumeClaim with the models, mounted read-only at modelMountPath in the workers. */
  modelClaim?: string;
  modelMountPath: string;
  /** How long to wait for a first ready endpoint before the pass gives up. */
  readyTimeoutMs: number;
  /** Attempts of one batch (on different endpoints) before its documents are reported as failed. */
  maxAttempts: number;
  port: number;
  /**
   * When set, a NetworkPolicy per worker Deployment admits to the batch API only the Pods with these labels
   * in this namespace (the controller's own).
   */
  networkPolicy?: { namespace: string; podLabels: Record<string, string> };
  /** Write a PodDisruptionBudget (maxUnavailable 1) per worker Deployment. */
  podDisruptionBudget?: boolean;
  /** More environment variables of the worker container (--worker-env), after the controller's own. */
  extraEnv?: V1EnvVar[];
}

/** replicas = clamp(ceil(backlog batches / batches per worker), min, max). */
export function desiredReplicas(
  backlogBatches: number,
  batchesPerWorker: number,
  min: number,
  max: number,
): number {
  const want = Math.ceil(backlogBatches / Math.max(1, batchesPerWorker));
  return Math.max(min, Math.min(max, want));
}

/** The DatasetState the workers belong to: what the manifests need of it. */
export interface WorkerOwner {
  name: string;
  namespace: string;
  uid: string;
}

export const MANAGER = 'datastate-controller';
const HOME = '/var/lib/datastate';
const TOKEN_DIR = '/var/run/datastate/token';

/**
 * Worker resources when neither the DatasetState nor --worker-resources names any: enough for the ONNX
 * runtime and a BERT-sized model, and for the SYNTHETIC demo model (436 MB) generated in DATASTATE_HOME.
 */
export const DEFAULT_WORKER_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '1Gi' },
  limits: { memory: '4Gi', 'ephemeral-storage': '2Gi' },
};

export function workerName(dataset: string): string {
  return `${dataset}-embedder`.slice(0, 63).replace(/-+$/, '');
}

export function workerSelector(dataset: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'datastate-worker', 'datastate.dev/dataset': dataset };
}

function labels(owner: WorkerOwner): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'datastate-worker',
    'app.kubernetes.io/component': 'embedding-worker',
    'app.kubernetes.io/part-of': 'datastate',
    'app.kubernetes.io/managed-by': MANAGER,
    'datastate.dev/dataset': owner.name,
  };
}

function metadata(owner: WorkerOwner, name: string) {
  return {
    name,
    namespace: owner.namespace,
    labels: labels(owner),
    ownerReferences: [
      {
        apiVersion: API_VERSION,
        kind: KIND,
        name: owner.name,
        uid: owner.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

/**
 * True when spec.database.url is inline and carries a credential (a URL password, a password=/PWD= value):
 * it then goes to the workers through a Secret the controller owns (workerDatabaseSecret), never in clear.
 */
export function inlineUrlHasCredential(spec: DatasetStateSpec): boolean {
  const url = spec.database.url;
  return !spec.database.connectionSecretRef && !!url && redactSecrets(url) !== url;
}

/** The spec the workers run with: the dataset's embedding and database settings, never credentials. */
export function workerSpecJson(spec: DatasetStateSpec): string {
  const database = { ...spec.database };
  delete database.connectionSecretRef;
  if (spec.database.connectionSecretRef || inlineUrlHasCredential(spec)) delete database.url;
  return JSON.stringify({ embedding: spec.embedding, database });
}

/** The Secret holding an inline database URL with a credential, for the workers' DATASTATE_DB_URL. */
export function workerDatabaseSecret(owner: WorkerOwner, url: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(owner, `${workerName(owner.name)}-db`),
    type: 'Opaque',
    data: { url: Buffer.from(url, 'utf8').toString('base64') },
  };
}

/**
 * The worker container's resources: per resource (cpu, memory, ephemeral-storage, ...), the DatasetState's
 * request and limit when it names that resource in either, else the default's. Taking both from one place
 * keeps a request from ending above the limit of the other.
 */
export function workerResources(
  fromSpec: Record<string, unknown> | undefined,
  defaults: V1ResourceRequirements = DEFAULT_WORKER_RESOURCES,
): V1ResourceRequirements {
  const spec = (fromSpec ?? {}) as V1ResourceRequirements;
  const named = new Set([...Object.keys(spec.requests ?? {}), ...Object.keys(spec.limits ?? {})]);
  const pick = (which: 'requests' | 'limits') => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(defaults[which] ?? {})) if (!named.has(k)) out[k] = String(v);
    for (const [k, v] of Object.entries(spec[which] ?? {})) out[k] = String(v);
    return out;
  };
  const out: V1ResourceRequirements = {};
  const requests = pick('requests');
  const limits = pick('limits');
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  if (spec.claims) out.claims = spec.claims;
  return out;
}

export function workerTokenSecret(owner: WorkerOwner, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(owner, `${workerName(owner.name)}-token`),
    type: 'Opaque',
    stringData: { token },
  };
}

export function workerDeployment(
  owner: WorkerOwner,
  spec: DatasetStateSpec,
  settings: WorkerSettings,
  replicas: number,
): V1Deployment {
  const name = workerName(owner.name);
  const env: V1EnvVar[] = [
    { name: 'DATASTATE_WORKER_SPEC', value: workerSpecJson(spec) },
    { name: 'DATASTATE_HOME', value: HOME },
  ];
  const dbSecret = spec.database.connectionSecretRef
    ? { name: spec.database.connectionSecretRef.name, key: spec.database.connectionSecretRef.key }
    : inlineUrlHasCredential(spec)
      ? { name: `${name}-db`, key: 'url' }
      : null;
  if (dbSecret) env.push({ name: 'DATASTATE_DB_URL', valueFrom: { secretKeyRef: dbSecret } });
  if (spec.workers.threads !== undefined)
    env.push({ name: THREADS_ENV, value: String(spec.workers.threads) });
  const own = new Set(env.map((e) => e.name));
  for (const e of settings.extraEnv ?? []) if (!own.has(e.name)) env.push(e);
  const volumes: V1Volume[] = [
    { name: 'token', secret: { secretName: `${name}-token` } },
    { name: 'home', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'token', mountPath: TOKEN_DIR, readOnly: true },
    { name: 'home', mountPath: HOME },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (settings.modelClaim) {
    volumes.push({
      name: 'models',
      persistentVolumeClaim: { claimName: settings.modelClaim, readOnly: true },
    });
    mounts.push({ name: 'models', mountPath: settings.modelMountPath, readOnly: true });
  }
  const container: V1Container = {
    name: 'worker',
    image: spec.workers.image ?? settings.image,
    // The worker takes as many batches at once as the controller sends it (more would be refused with 429).
    args: [
      'worker',
      '--port',
      String(settings.port),
      '--token-file',
      `${TOKEN_DIR}/token`,
      '--max-in-flight',
      String(settings.inFlightPerEndpoint),
    ],
    env,
    ports: [{ name: 'http', containerPort: settings.port, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 20, failureThreshold: 3 },
    resources: workerResources(spec.workers.resources, settings.resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: mounts,
  };
  if (settings.imagePullPolicy) container.imagePullPolicy = settings.imagePullPolicy;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(owner, name),
    spec: {
      replicas,
      selector: { matchLabels: workerSelector(owner.name) },
      template: {
        metadata: { labels: labels(owner) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            fsGroup: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [container],
          volumes,
          // Workers prefer different nodes: a node lost takes only its share of the batches in flight.
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: workerSelector(owner.name) },
                  },
                },
              ],
            },
          },
        },
      },
    },
  };
}

export function workerService(owner: WorkerOwner, settings: WorkerSettings): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(owner, workerName(owner.name)),
    spec: {
      type: 'ClusterIP',
      selector: workerSelector(owner.name),
      ports: [{ name: 'http', port: settings.port, targetPort: 'http' as never, protocol: 'TCP' }],
    },
  };
}

/**
 * Ingress to the workers only from the controller's Pods, on the batch API port (the bearer token is then
 * a second lock, not the only one). Egress stays open: the workers reach the database, wherever it is.
 */
export function workerNetworkPolicy(
  owner: WorkerOwner,
  settings: WorkerSettings & { networkPolicy: NonNullable<WorkerSettings['networkPolicy']> },
): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(owner, workerName(owner.name)),
    spec: {
      podSelector: { matchLabels: workerSelector(owner.name) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          // `_from` is the client library's name for `from` (it writes `from` on the wire).
          _from: [
            {
              namespaceSelector: {
                matchLabels: { 'kubernetes.io/metadata.name': settings.networkPolicy.namespace },
              },
              podSelector: { matchLabels: settings.networkPolicy.podLabels },
            },
          ],
          ports: [{ protocol: 'TCP', port: settings.port as never }],
        },
      ],
    },
  };
}

/**
 * maxUnavailable 1, never minAvailable: the workers scale to 0 between passes and a killed worker costs one
 * batch retried elsewhere (a batch is one transaction), so a drain must never wait on them; the budget only
 * keeps a drain from taking every worker of a running pass at once. Unready workers may always be evicted.
 */
export function workerPodDisruptionBudget(owner: WorkerOwner): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(owner, workerName(owner.name)),
    spec: {
      maxUnavailable: 1 as never,
      selector: { matchLabels: workerSelector(owner.name) },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/** Everything the controller writes for one DatasetState's workers, in the order it applies them. */
export function workerManifests(
  owner: WorkerOwner,
  spec: DatasetStateSpec,
  settings: WorkerSettings,
  replicas: number,
  token: string,
) {
  const out: (V1Secret | V1NetworkPolicy | V1Service | V1PodDisruptionBudget | V1Deployment)[] = [
    workerTokenSecret(owner, token),
  ];
  if (inlineUrlHasCredential(spec)) out.push(workerDatabaseSecret(owner, spec.database.url!));
  // The policy before the Deployment: no worker Pod ever runs unprotected.
  if (settings.networkPolicy)
    out.push(workerNetworkPolicy(owner, { ...settings, networkPolicy: settings.networkPolicy }));
  out.push(workerService(owner, settings));
  if (settings.podDisruptionBudget) out.push(workerPodDisruptionBudget(owner));
  out.push(workerDeployment(owner, spec, settings, replicas));
  return out;
}
