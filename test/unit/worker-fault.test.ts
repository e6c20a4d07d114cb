/**
 * The worker's test-only fault (src/worker/fault.ts): off unless named, refused when unknown, inert without a
 * container memory limit, and the cgroup limit read for v1 and v2. (That it really ends in OOMKilled is
 * tested on the cluster: test/cluster/operator-on-a-node.test.ts.)
 *
 *   node --test test/unit/worker-fault.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Embedder } from '../../src/core/ports.ts';
import { cgroupMemoryLimit, withFault } from '../../src/worker/fault.ts';

const embedder = {
  modelId: 'm',
  fingerprint: 'f',
  dimension: 4,
  synthetic: true,
  embed: async () => [],
  close: async () => undefined,
} as Embedder;

test('cgroup memory limit: v2 memory.max, v1 limit_in_bytes; "max" and the v1 no-limit value are none', () => {
  const files = (m: Record<string, string>) => (p: string) => m[p];
  assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '536870912\n' })), 536870912);
  assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' })), undefined);
  assert.equal(
    cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '805306368' })),
    805306368,
  );
  assert.equal(
    cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' })),
    undefined,
  );
  assert.equal(cgroupMemoryLimit(files({})), undefined);
});

test('withFault: unset is the embedder itself; an unknown fault is an error; no limit: warned and inert', async () => {
  const p = Promise.resolve(embedder);
  const logs: string[] = [];
  const log = (_l: string, m: string) => void logs.push(m);
  assert.equal(withFault(undefined, p, log), p);
  assert.equal(withFault('', p, log), p);
  assert.throws(
    () => withFault('segfault', p, log, 1 << 30),
    /DATASTATE_WORKER_FAULT: "segfault" is not one of oom-once/,
  );
  assert.equal(withFault('oom-once', p, log, undefined), p);
  assert.equal(withFault('oom-once', p, log, 16 * 2 ** 30), p);
  assert.equal(logs.length, 2);
  assert.match(logs[0]!, /ignored: no container memory limit/);
});

test('withFault oom-once: once the marker is in DATASTATE_HOME (a restarted container), batches go through', async () => {
  const home = mkdtempSync(join(tmpdir(), 'fault-'));
  const was = process.env.DATASTATE_HOME;
  process.env.DATASTATE_HOME = home;
  try {
    writeFileSync(join(home, '.fault-oom-once'), 'x\n');
    const e = await withFault('oom-once', Promise.resolve(embedder), () => undefined, 512 * 2 ** 20);
    assert.notEqual(e, embedder);
    assert.deepEqual([e.modelId, e.fingerprint, e.dimension, e.synthetic], ['m', 'f', 4, true]);
    assert.deepEqual(await e.embed([]), []);
  } finally {
    if (was === undefined) delete process.env.DATASTATE_HOME;
    else process.env.DATASTATE_HOME = was;
    rmSync(home, { recursive: true, force: true });
  }
});
