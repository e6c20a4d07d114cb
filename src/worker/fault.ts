/**
 * A fault a test can ask a worker for, to see the cluster handle it for real (test/cluster): nothing here runs
 * unless DATASTATE_WORKER_FAULT names it.
 *
 *   DATASTATE_WORKER_FAULT=oom-once   on the first batch in this Pod's life, allocate memory until the kernel's
 *                                     OOM killer ends the container (reason OOMKilled); the restarted container
 *                                     finds the marker in DATASTATE_HOME (the Pod's emptyDir) and works normally.
 *
 * It acts only under a container memory limit of at most 8 GiB (read from the cgroup), so it can never eat a
 * machine's memory; without one it logs a warning and does nothing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Embedder } from '../core/ports.ts';
import { ValidationError } from '../api/validate.ts';
import { dataHome } from '../app/wiring.ts';

export const FAULT_ENV = 'DATASTATE_WORKER_FAULT';
const FAULTS = ['oom-once'] as const;
const MAX_LIMIT = 8 * 2 ** 30;

type Log = (level: string, message: string, fields?: Record<string, unknown>) => void;

/** The container's memory limit in bytes from its cgroup (v1 or v2), or undefined when there is none. */
export function cgroupMemoryLimit(
  read: (path: string) => string | undefined = (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const text = read(file)?.trim();
    if (text === undefined) continue;
    const n = Number(text);
    // "max" (v2) or the page-rounded 2^63 (v1): no limit.
    return Number.isFinite(n) && n > 0 && n < 2 ** 62 ? n : undefined;
  }
  return undefined;
}

function exhaustMemory(limit: number, log: Log): never {
  log('warn', `${FAULT_ENV}=oom-once: allocating past the memory limit`, { limitBytes: limit });
  const held: Buffer[] = [];
  const chunk = 32 * 2 ** 20;
  // Filled buffers: every page is touched, so it counts against the cgroup at once.
  for (let total = 0; total < limit + 512 * 2 ** 20; total += chunk) held.push(Buffer.alloc(chunk, 1));
  throw new Error(`${FAULT_ENV}=oom-once: still alive after allocating ${held.length * 32} MiB`);
}

/** The embedder, with the fault DATASTATE_WORKER_FAULT names (unset or empty: the embedder itself). */
export function withFault(
  fault: string | undefined,
  embedder: Promise<Embedder>,
  log: Log,
  limit: number | undefined = cgroupMemoryLimit(),
): Promise<Embedder> {
  if (!fault) return embedder;
  if (!(FAULTS as readonly string[]).includes(fault))
    throw new ValidationError([`${FAULT_ENV}: ${JSON.stringify(fault)} is not one of ${FAULTS.join(', ')}`]);
  if (limit === undefined || limit > MAX_LIMIT) {
    log('warn', `${FAULT_ENV}=${fault} ignored: no container memory limit of at most 8 GiB`);
    return embedder;
  }
  const marker = join(dataHome(), `.fault-${fault}`);
  return embedder.then((e): Embedder => ({
    modelId: e.modelId,
    fingerprint: e.fingerprint,
    dimension: e.dimension,
    synthetic: e.synthetic,
    embed: (docs, signal) => {
      if (!existsSync(marker)) {
        writeFileSync(marker, `${new Date().toISOString()}\n`);
        exhaustMemory(limit, log);
      }
      return e.embed(docs, signal);
    },
    close: () => e.close(),
  }));
}
