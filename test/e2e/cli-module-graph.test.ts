/**
 * The CLI's start-up stays small: `validate` and `plan` of a healthy SQLite dataset do not load the model
 * runtime (onnxruntime-node, the tokenizer library, the ONNX protobuf reader), the Kubernetes client, the other
 * stores' drivers (pg, odbc), the corpus readers (tar, saxes) or cli-progress; they are imported on the paths
 * that need them (docs/runtime.md, "Start-up"). `ensure` of missing documents does load the runtime, which
 * shows the recorder sees what a command loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, runCli, smallModelDir, SMALL_DIM, type CliResult } from '../helpers/cli.ts';

const RECORDER = pathToFileURL(join(REPO, 'test', 'helpers', 'record-modules.ts')).href;

/** Packages a no-op validate or plan of a SQLite dataset must not load. */
const HEAVY = [
  'onnxruntime-node',
  'onnxruntime-common',
  '@huggingface/tokenizers',
  'onnx-proto',
  'protobufjs',
  '@kubernetes/client-node',
  'pg',
  'odbc',
  'tar',
  'saxes',
  'cli-progress',
];

/** The npm packages among the modules a run of the CLI resolved. */
async function packagesLoaded(
  dir: string,
  args: string[],
): Promise<{ run: CliResult; packages: Set<string> }> {
  const file = join(dir, `modules-${args[0]}.txt`);
  const run = await runCli(args, {
    env: { NODE_OPTIONS: `--import=${RECORDER}`, DATASTATE_TEST_MODULES_FILE: file },
  });
  const packages = new Set<string>();
  for (const url of readFileSync(file, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) packages.add(m[1]!);
  }
  return { run, packages };
}

test('validate and plan of a healthy SQLite dataset load no model runtime, driver or corpus reader', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'datastate-module-graph-'));
  try {
    const common = [
      '--doc-count',
      '12',
      '--db',
      join(dir, 'd.db'),
      '--model',
      await smallModelDir(),
      '--dimension',
      String(SMALL_DIM),
      '--batch-size',
      '4',
      '-q',
    ];
    const ensure = await packagesLoaded(dir, ['ensure', ...common]);
    assert.equal(ensure.run.code, 0, ensure.run.stderr);
    assert.ok(ensure.packages.has('onnxruntime-node'), [...ensure.packages].join(', '));

    for (const command of ['validate', 'plan']) {
      const { run, packages } = await packagesLoaded(dir, [command, ...common]);
      assert.equal(run.code, 0, `${command}: ${run.stderr}`);
      assert.match(run.stdout, /^READY: 12\/12 documents embedded/m, run.stdout);
      const heavy = HEAVY.filter((p) => packages.has(p));
      assert.deepEqual(heavy, [], `${command} loaded ${heavy.join(', ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
