// The Dockerfile (for users with Docker) and scripts/build-image.sh (`make image`, no container engine) must make
// the same image layout: every path the Dockerfile copies exists and is not excluded by .dockerignore, and
// build-image.sh copies the same paths into /app with the same user, working directory, environment,
// entrypoint and command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cluster.ts';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const script = readFileSync(join(repoRoot, 'scripts', 'build-image.sh'), 'utf8');
const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Sources of the COPY instructions that copy from the build context (not --from=stage). */
function contextCopies(): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const m = /^COPY\s+(.*)$/.exec(line.trim());
    if (!m || /--from=/.test(m[1]!)) continue;
    const words = m[1]!.split(/\s+/).filter((w) => !w.startsWith('--'));
    sources.push(...words.slice(0, -1));
  }
  return sources;
}

function instruction(name: string): string {
  const m = new RegExp(`^${name}\\s+(.*)$`, 'm').exec(dockerfile);
  assert.ok(m, `Dockerfile has ${name}`);
  return m[1]!.trim();
}

test('every path the Dockerfile copies exists and is in the build context', () => {
  const sources = contextCopies();
  assert.ok(sources.length >= 7, `COPY sources: ${sources.join(' ')}`);
  for (const s of sources) {
    assert.ok(existsSync(join(repoRoot, s)), `${s} exists`);
    assert.ok(!ignored.includes(s) && !ignored.includes(s.replace(/\/$/, '')), `${s} not in .dockerignore`);
  }
});

test('make image copies the same paths into /app', () => {
  for (const s of contextCopies()) {
    assert.match(script, new RegExp(`"\\$root/${s.replace('.', '\\.')}"`), `build-image.sh copies ${s}`);
  }
});

test('make image has the Dockerfile user, workdir, env, entrypoint and command', () => {
  assert.equal(instruction('USER'), '10001:10001');
  assert.match(script, /User: "10001:10001"/);
  assert.equal(instruction('WORKDIR'), '/app');
  assert.match(script, /WorkingDir: "\/app"/);
  // The jq config in build-image.sh writes JSON arrays as ["a", "b"].
  const jqArray = (words: string[]): string => JSON.stringify(words).replace(/","/g, '", "');
  const entry = JSON.parse(instruction('ENTRYPOINT')) as string[];
  assert.ok(script.includes(`Entrypoint: ${jqArray(entry)}`), `Entrypoint ${jqArray(entry)}`);
  const cmd = JSON.parse(instruction('CMD')) as string[];
  assert.ok(script.includes(`Cmd: ${jqArray(cmd)}`), `Cmd ${jqArray(cmd)}`);
  for (const env of ['NODE_ENV=production', 'DATASTATE_HOME=/var/lib/datastate'])
    assert.match(script, new RegExp(`"${env}"`));
  assert.match(dockerfile, /NODE_ENV=production/);
  assert.match(dockerfile, /DATASTATE_HOME=\/var\/lib\/datastate/);
  assert.match(dockerfile, /--uid 10001 --gid 10001/);
  assert.match(script, /datastate:x:10001:10001:/);
});
