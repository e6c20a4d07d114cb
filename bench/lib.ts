/**
 * Shared pieces of `npm run bench` (bench/run.ts and its child benchmarks): the machine, the CPU the rest of
 * the machine used meanwhile, the shape of a generated model, and the children's result protocol (a child
 * prints exactly one JSON object on stdout; its logs go to stderr).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  onnxruntimeNode: string;
  sqlite: string;
  commit: string;
  date: string;
}

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const ort = JSON.parse(
    readFileSync(path.join(REPO, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8'),
  ) as { version: string };
  const db = new DatabaseSync(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep availableParallelism
  }
  return {
    nproc,
    cpuModel,
    memoryGiB: os.totalmem() / 2 ** 30,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    onnxruntimeNode: ort.version,
    sqlite,
    commit,
    date: new Date().toISOString(),
  };
}

/** CPU time of the whole machine so far, in seconds (from /proc/stat). */
export function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const hz = 100; // USER_HZ is 100 on Linux
  return {
    busy: (user + nice + system + irq + softirq + steal) / hz,
    total: (user + nice + system + idle + iowait + irq + softirq + steal) / hz,
  };
}

/** Fraction of the machine's CPU that was busy over `ms` milliseconds (all cores). */
export async function busyFraction(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  return (b.busy - a.busy) / Math.max(1e-9, b.total - a.total);
}

export const load1 = (): number => os.loadavg()[0]!;

/** What a generated model directory's embedder.json says about its shape. */
export interface ModelShape {
  dir: string;
  modelId: string;
  synthetic: boolean;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  bytes: number;
}

export function modelShape(dir: string): ModelShape {
  const cfg = JSON.parse(readFileSync(path.join(dir, 'embedder.json'), 'utf8')) as {
    modelId: string;
    synthetic?: boolean;
    files?: Record<string, number>;
    generator?: { spec?: Record<string, number> };
  };
  const s = cfg.generator?.spec ?? {};
  return {
    dir,
    modelId: cfg.modelId,
    synthetic: cfg.synthetic === true,
    hidden: s.hidden ?? NaN,
    layers: s.layers ?? NaN,
    heads: s.heads ?? NaN,
    intermediate: s.intermediate ?? NaN,
    vocab: s.vocabSize ?? NaN,
    maxPositions: s.maxPositions ?? NaN,
    bytes: cfg.files?.['model.onnx'] ?? NaN,
  };
}

/** A child's resource usage, as written by bench/rss-hook.ts when it exits. */
export interface Usage {
  maxRssKiB: number;
  userSeconds: number;
  systemSeconds: number;
}

export const log = (m: string): void => {
  process.stderr.write(`${m}\n`);
};

/** A child benchmark's one line of output. */
export function emit(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
