/**
 * Entry point of the datastate command line (`node src/cli/main.ts`, bin/datastate.js, the image). It turns on
 * Node's module compile cache before the CLI's modules are loaded, so later runs reuse their stripped
 * TypeScript and V8 code instead of compiling every module again (docs/runtime.md, "Start-up"). The cache
 * lives in NODE_COMPILE_CACHE, else os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 * It is only turned on when that directory can be created and written: Node 24.21's enableCompileCache()
 * spins forever on a directory it cannot create (e.g. under /proc); without the cache Node compiles as before.
 */
import { enableCompileCache } from 'node:module';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function compileCacheDir(): string | null {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return null;
  const dir = process.env.NODE_COMPILE_CACHE || join(tmpdir(), 'node-compile-cache');
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return dir;
  } catch {
    return null;
  }
}

const cacheDir = compileCacheDir();
if (cacheDir !== null) enableCompileCache(cacheDir);
const { main } = await import('./program.ts');
process.exit(await main(process.argv.slice(2)));
