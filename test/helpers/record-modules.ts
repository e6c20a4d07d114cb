/**
 * A module hook for a child process (`NODE_OPTIONS=--import=<this file>`): appends the URL of every module the
 * process resolves to the file named by DATASTATE_TEST_MODULES_FILE, one a line, when the process exits.
 * test/e2e/cli-module-graph.test.ts uses it to see what a CLI command loads.
 */
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.DATASTATE_TEST_MODULES_FILE;
const seen = new Set<string>();
if (out) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      seen.add(resolved.url);
      return resolved;
    },
  });
  process.on('exit', () => appendFileSync(out, [...seen].map((u) => u + '\n').join('')));
}
