/**
 * Leader election through a coordination.k8s.io/v1 Lease, after client-go's tools/leaderelection:
 * a candidate takes the Lease when it is free or its holder has not renewed it for leaseDuration (measured on
 * the candidate's own clock, from when it last saw the record change, so clock skew between nodes does not
 * matter); the leader renews every retryPeriod and gives up leadership if it cannot renew within renewDeadline.
 * Updates use the Lease's resourceVersion, so two candidates can never both win.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { sleep } from '../core/timers.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: (leadership: AbortSignal) => void;
  /** Called when leadership ends; the Lease is released only after the returned promise settles. */
  onStoppedLeading: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  log?: (message: string) => void;
}

/**
 * Lease times are metav1.MicroTime (RFC 3339 with exactly six fractional digits); client-node serializes a Date
 * with toISOString's three, which the API server rejects. A Date that prints itself with six digits fixes that.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
}

function statusOf(e: unknown): number | undefined {
  const x = e as { code?: number; statusCode?: number; response?: { httpStatusCode?: number } };
  return x?.code ?? x?.statusCode ?? x?.response?.httpStatusCode;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Omit<LeaderElectionOptions, 'onNewLeader' | 'log'>> &
    Pick<LeaderElectionOptions, 'onNewLeader' | 'log'>;
  private observed: { holder: string; renewTime: string; resourceVersion: string } | null = null;
  private observedAt = 0;
  private leading = false;
  private lastHolder = '';

  constructor(kc: KubeConfig, options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private now(): Date {
    return new MicroTime();
  }

  /** One attempt to acquire or renew. True when we hold the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const now = this.now();
    const desired = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      renewTime: now,
    };
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { ...desired, acquireTime: now, leaseTransitions: 0 },
          },
        });
        this.see(identity, now.toISOString(), '');
        return true;
      } catch (ce) {
        if (statusOf(ce) === 409) return false;
        throw ce;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : '';
    const rv = lease.metadata?.resourceVersion ?? '';
    if (!this.observed || this.observed.resourceVersion !== rv) this.see(holder, renewTime, rv);
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.o.leaseDurationMs / 1000)) * 1000;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && this.observedAt + durationMs > Date.now()) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    const acquireTime = spec.acquireTime ? new MicroTime(spec.acquireTime) : now;
    try {
      const updated = await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            ...desired,
            acquireTime: holder === identity ? acquireTime : now,
            leaseTransitions: transitions,
          },
        },
      });
      this.see(identity, now.toISOString(), updated.metadata?.resourceVersion ?? '');
      return true;
    } catch (e) {
      if (statusOf(e) === 409) return false;
      throw e;
    }
  }

  private see(holder: string, renewTime: string, resourceVersion: string) {
    this.observed = { holder, renewTime, resourceVersion };
    this.observedAt = Date.now();
    if (holder && holder !== this.lastHolder) {
      this.lastHolder = holder;
      this.o.onNewLeader?.(holder);
    }
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead (renewing), and campaign again after losing the Lease.
   * On abort, a leader releases the Lease so another candidate takes over at once.
   */
  async run(signal: AbortSignal): Promise<void> {
    const attempt = async () => {
      try {
        return await this.tryAcquireOrRenew();
      } catch (e) {
        this.o.log?.(`leader election: ${(e as Error).message}`);
        return false;
      }
    };
    while (!signal.aborted) {
      // Campaign.
      while (!signal.aborted && !(await attempt()))
        await sleep(this.o.retryPeriodMs, signal).catch(() => undefined);
      if (signal.aborted) break;
      this.leading = true;
      const leadership = new AbortController();
      this.o.log?.(`leader election: ${this.o.identity} is the leader`);
      this.o.onStartedLeading(leadership.signal);
      // Renew until a renewal fails for longer than renewDeadline.
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(this.o.retryPeriodMs, signal).catch(() => undefined);
        if (signal.aborted) break;
        if (await attempt()) lastRenew = Date.now();
        else if (Date.now() - lastRenew > this.o.renewDeadlineMs) break;
      }
      this.leading = false;
      leadership.abort(new Error('leadership lost'));
      await this.o.onStoppedLeading();
      if (signal.aborted) await this.release();
      else this.o.log?.(`leader election: ${this.o.identity} lost the Lease`);
    }
  }

  /** Gives the Lease up (holder cleared, duration 1 s) so a standby takes over without waiting it out. */
  async release(): Promise<void> {
    const { namespace, name, identity } = this.o;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      if (lease.spec.acquireTime) lease.spec.acquireTime = new MicroTime(lease.spec.acquireTime);
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new MicroTime() },
        },
      });
      this.o.log?.(`leader election: ${identity} released the Lease`);
    } catch (e) {
      this.o.log?.(`leader election: release failed: ${(e as Error).message}`);
    }
  }
}
