/**
 * Runs the datastate CLI as a user would (a child process), and gives tests a small generated model.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmcCorpusPath } from './corpus.ts';

export const REPO = join(import.meta.dirname, '..', '..');
export const CLI = join(REPO, 'src', 'cli', 'main.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return startCli(args, options).done;
}

/** JSON report of a run with --output json (fails the test with the run's stderr if it is not JSON). */
export function reportOf(r: CliResult): Record<string, any> {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not a JSON report (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

let smallModel: Promise<string> | null = null;

/**
 * A small generated BERT-shaped model (hidden 32, SYNTHETIC random weights) with the real bert-base-uncased
 * tokenizer, so token counts per document are realistic while the model runs fast. Generated once per run.
 */
export function smallModelDir(): Promise<string> {
  smallModel ??= (async () => {
    const { ensureDemoModel } = await import('../../src/embed/index.ts');
    const dir = join(
      process.env.DATASTATE_TEST_CACHE ?? join(tmpdir(), 'datastate-test-cache'),
      'model-small-bert-vocab',
    );
    mkdirSync(join(dir, '..'), { recursive: true });
    return ensureDemoModel(dir, { preset: 'small' });
  })();
  return smallModel;
}

export const SMALL_DIM = 32;

let mediumModel: Promise<string> | null = null;

/**
 * A mid-sized generated model (hidden 384, 6 layers; SYNTHETIC weights; real tokenizer), for tests that need a
 * heal to last long enough to act during it (~6 s per 100 PMC abstracts on our 2 cores).
 */
export function mediumModelDir(): Promise<string> {
  mediumModel ??= (async () => {
    const { ensureDemoModel } = await import('../../src/embed/index.ts');
    const dir = join(
      process.env.DATASTATE_TEST_CACHE ?? join(tmpdir(), 'datastate-test-cache'),
      'model-medium-h384-l6',
    );
    mkdirSync(join(dir, '..'), { recursive: true });
    return ensureDemoModel(dir, { preset: 'small', hidden: 384, layers: 6, heads: 6, intermediate: 1536 });
  })();
  return mediumModel;
}

export const MEDIUM_DIM = 384;

/** `ensure` of the first `docs` real PMC documents with the small model, batches of 4, the JSON report. */
export async function ensurePmcArgs(docs: number, extra: string[] = []): Promise<string[]> {
  return [
    'ensure',
    '--doc-count',
    String(docs),
    '--source',
    pmcCorpusPath(),
    '--model',
    await smallModelDir(),
    '--dimension',
    String(SMALL_DIM),
    '--batch-size',
    '4',
    '--output',
    'json',
    ...extra,
  ];
}
