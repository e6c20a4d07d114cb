// Writes deploy/ (plain manifests for `kubectl apply -k deploy/`) from the Helm chart, so there is no second
// hand-kept copy: `helm template` of charts/datastate with its default values, release `datastate` in
// namespace `datastate-system`, plus the Namespace and a kustomization.yaml. The CRD in deploy/crds/ is
// written by scripts/gen-crd.ts from the schema.
//
//   node scripts/gen-deploy.ts            (HELM=/path/to/helm to choose the helm binary)
//
// test/kubernetes/helm-chart.test.ts fails when the committed deploy/ differs from what this renders.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILE } from '../src/api/crd.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const RELEASE = 'datastate';
export const NAMESPACE = 'datastate-system';
export const CHART = join(ROOT, 'charts', 'datastate');
export const DEPLOY = join(ROOT, 'deploy');
const CRD_NAME = CRD_FILE.slice(CRD_FILE.lastIndexOf('/') + 1);

const HEADER =
  '# Generated from charts/datastate by `node scripts/gen-deploy.ts` (helm template). Do not edit by hand.\n';

/**
 * A tool that scripts/envtest.sh installs (helm, kubeconform): $ENV_VAR if set, else the pinned
 * binary in the envtest cache, else the first one on PATH. Null when there is none.
 */
export function findTool(name: string, envVar?: string): string | null {
  const fromEnv = envVar ? process.env[envVar] : undefined;
  if (fromEnv) return fromEnv;
  const dirs: string[] = [];
  try {
    // `versions` prints the pinned versions and the cache directory (and, unlike `env`, creates nothing).
    const out = execFileSync('bash', [join(ROOT, 'scripts', 'envtest.sh'), 'versions'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const v = Object.fromEntries(
      out.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
    );
    if (v.cache && v[name]) dirs.push(join(v.cache, `${name}-${v[name]}`, 'bin'));
  } catch {
    /* no envtest script: PATH only */
  }
  dirs.push(...(process.env.PATH ?? '').split(delimiter));
  for (const d of dirs) if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

/** The files of deploy/ (relative path -> text), except the CRD copy that gen-crd.ts writes. */
export function renderDeploy(helm: string): Map<string, string> {
  const rendered = execFileSync(helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const files = new Map<string, string>();
  files.set(
    'namespace.yaml',
    HEADER +
      [
        'apiVersion: v1',
        'kind: Namespace',
        'metadata:',
        `  name: ${NAMESPACE}`,
        '  labels:',
        '    app.kubernetes.io/part-of: datastate',
        '    # The controller Pods meet the "restricted" Pod Security Standard.',
        '    pod-security.kubernetes.io/enforce: restricted',
        '    pod-security.kubernetes.io/warn: restricted',
        '',
      ].join('\n'),
  );
  files.set('datastate.yaml', HEADER + rendered.replace(/^---\n/, '').trimEnd() + '\n');
  files.set(
    'kustomization.yaml',
    HEADER +
      [
        '# kubectl apply -k deploy/   (release "datastate" in namespace "datastate-system", default values; use the',
        '# chart for anything else: helm install datastate charts/datastate -n NAMESPACE --create-namespace --set ...)',
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        '  - namespace.yaml',
        `  - crds/${CRD_NAME}`,
        '  - datastate.yaml',
        '',
      ].join('\n'),
  );
  return files;
}

if (import.meta.main) {
  const helm = findTool('helm', 'HELM');
  if (!helm) {
    console.error(
      'gen-deploy: no helm (scripts/envtest.sh build installs the pinned one; or set HELM=/path/to/helm)',
    );
    process.exit(2);
  }
  if (!existsSync(join(DEPLOY, 'crds', CRD_NAME))) {
    console.error(`gen-deploy: deploy/crds/${CRD_NAME} is missing: run node scripts/gen-crd.ts first`);
    process.exit(2);
  }
  const files = renderDeploy(helm);
  mkdirSync(DEPLOY, { recursive: true });
  // Files this script wrote before and no longer renders go away; crds/ belongs to gen-crd.ts.
  for (const f of readdirSync(DEPLOY))
    if (f !== 'crds' && !files.has(f)) rmSync(join(DEPLOY, f), { recursive: true });
  for (const [name, text] of files) {
    writeFileSync(join(DEPLOY, name), text);
    console.log(`wrote deploy/${name}`);
  }
}
