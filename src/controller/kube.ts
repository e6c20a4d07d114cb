/**
 * Kubernetes plumbing: config, the DatasetState API paths, status patches, Secrets, Events.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type DatasetStateStatus } from '../api/schema.ts';

export interface DatasetStateObject extends KubernetesObject {
  spec?: unknown;
  status?: DatasetStateStatus;
}

/** In-cluster config when running in a Pod, else KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export function datasetStatePath(namespace?: string): string {
  return namespace
    ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`
    : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
}

export function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function statusOf(e: unknown): number | undefined {
  const x = e as { code?: number; statusCode?: number };
  return x?.code ?? x?.statusCode;
}

export class KubeClients {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly kc: KubeConfig;
  constructor(kc: KubeConfig) {
    this.kc = kc;
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async listDatasetStates(namespace?: string) {
    const list = (
      namespace
        ? await this.custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
          })
        : await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
    ) as {
      items: DatasetStateObject[];
      metadata?: { resourceVersion?: string };
    };
    return list;
  }

  /**
   * Replaces .status, whole, through the status subresource. A JSON Patch `add` of /status replaces the member
   * (RFC 6902 4.1); a merge patch would keep every key the new status leaves out (RFC 7386), so an old lastError,
   * estimate or ETA would outlive the pass that wrote it.
   */
  async patchStatus(namespace: string, name: string, status: DatasetStateStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: [{ op: 'add', path: '/status', value: status }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  /** The value of one key of a Secret, decoded. Errors say which Secret and key, never the value. */
  async secretValue(namespace: string, name: string, key: string): Promise<string> {
    let secret;
    try {
      secret = await this.core.readNamespacedSecret({ name, namespace });
    } catch (e) {
      throw new Error(
        `cannot read Secret ${namespace}/${name}: ${statusOf(e) === 404 ? 'not found' : `HTTP ${statusOf(e) ?? '?'}`}`,
        {
          cause: e,
        },
      );
    }
    const raw =
      secret.data?.[key] ??
      (secret.stringData?.[key] !== undefined
        ? Buffer.from(secret.stringData[key]!).toString('base64')
        : undefined);
    if (raw === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${JSON.stringify(key)}`);
    return Buffer.from(raw, 'base64').toString('utf8').trim();
  }

  /** Records a core/v1 Event on a DatasetState (best effort: failures are returned, not thrown). */
  async event(
    obj: DatasetStateObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    reporter: string,
  ): Promise<Error | null> {
    const now = new Date();
    const ns = obj.metadata?.namespace ?? 'default';
    try {
      await this.core.createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { generateName: `${obj.metadata?.name}.`, namespace: ns },
          involvedObject: {
            apiVersion: API_VERSION,
            kind: KIND,
            name: obj.metadata?.name,
            namespace: ns,
            uid: obj.metadata?.uid,
            resourceVersion: obj.metadata?.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: 'datastate-controller' },
          reportingComponent: 'datastate.dev/controller',
          reportingInstance: reporter,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      return null;
    } catch (e) {
      return e as Error;
    }
  }
}
