#!/usr/bin/env node
// Entry point. datastate runs its TypeScript sources directly on Node 24 (type stripping); see docs/runtime.md.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `datastate needs Node.js 24 (this is ${process.version}). Run it through make (which installs Node 24 into .tools/), ` +
      'or put Node 24 first on PATH: export PATH=$(scripts/ensure-node.sh):$PATH',
  );
  process.exit(2);
}
await import('../src/cli/main.ts');
