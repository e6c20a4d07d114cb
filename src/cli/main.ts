/**
 * Entry point of the datastate command line (`node src/cli/main.ts`, bin/datastate.js, the image). It turns on
 * Node's module compile cache before the CLI's modules are loaded, so later runs reuse their stripped
 * TypeScript and V8 code instead of compiling every module again (docs/runtime.md, "Start-up"). The cache
 * lives in NODE_COMPILE_CACHE, else os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 * A cache directory that cannot be written only costs the speed-up: Node then compiles as before.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
const { main } = await import('./program.ts');
process.exit(await main(process.argv.slice(2)));
