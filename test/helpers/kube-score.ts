/**
 * kube-score (the pinned one scripts/envtest.sh builds) over YAML text, with exactly the exceptions listed in
 * docs/deploy.md between the `kube-score:begin` and `kube-score:end` markers: a row whose first cell holds
 * flags (`--ignore-test X`, `--ignore-container-cpu-limit`) passes them; a row `warning X` accepts a WARNING
 * of check X. Anything else kube-score finds is a finding.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findTool, ROOT } from '../../scripts/gen-deploy.ts';

export interface KubeScorePolicy {
  /** Flags passed to `kube-score score`. */
  flags: string[];
  /** Check ids whose WARNING (never CRITICAL) is accepted. */
  acceptedWarnings: string[];
}

export function kubeScorePolicy(doc = join(ROOT, 'docs', 'deploy.md')): KubeScorePolicy {
  const text = readFileSync(doc, 'utf8');
  const m = /<!-- kube-score:begin -->([\s\S]*?)<!-- kube-score:end -->/.exec(text);
  if (!m) throw new Error(`${doc}: no kube-score:begin/end markers`);
  const flags: string[] = [];
  const acceptedWarnings: string[] = [];
  for (const line of m[1]!.split('\n')) {
    if (!line.startsWith('|') || /^\|\s*(---|kube-score)/.test(line)) continue;
    const first = line.split('|')[1]!.trim();
    const warning = /^warning `([a-z0-9-]+)`$/.exec(first);
    if (warning) {
      acceptedWarnings.push(warning[1]!);
      continue;
    }
    const cells = [...first.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
    if (!cells.length) throw new Error(`${doc}: kube-score row without a flag or warning: ${line}`);
    for (const c of cells) flags.push(...c.split(/\s+/));
  }
  return { flags, acceptedWarnings };
}

export interface KubeScoreFinding {
  object: string;
  check: string;
  grade: 'CRITICAL' | 'WARNING';
  summaries: string[];
}

/** kube-score's JSON report of `yamlText`: every finding not accepted by the policy, and the exit code. */
export function kubeScore(
  yamlText: string,
  policy: KubeScorePolicy = kubeScorePolicy(),
): { code: number | null; findings: KubeScoreFinding[]; scored: string[]; args: string[] } {
  const bin = findTool('kube-score', 'KUBE_SCORE');
  if (!bin) throw new Error('no kube-score: scripts/envtest.sh build installs the pinned one');
  const args = ['score', '--kubernetes-version', 'v1.37', '-o', 'json', ...policy.flags, '-'];
  const r = spawnSync(bin, args, { input: yamlText, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  let report: {
    object_name: string;
    checks: {
      check: { id: string };
      grade: number;
      skipped: boolean;
      comments: { summary: string }[] | null;
    }[];
  }[];
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`kube-score output is not JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
  const findings: KubeScoreFinding[] = [];
  for (const o of report)
    for (const c of o.checks) {
      // kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 all OK.
      if (c.skipped || c.grade >= 7) continue;
      const grade = c.grade <= 1 ? 'CRITICAL' : 'WARNING';
      if (grade === 'WARNING' && policy.acceptedWarnings.includes(c.check.id)) continue;
      findings.push({
        object: o.object_name,
        check: c.check.id,
        grade,
        summaries: (c.comments ?? []).map((x) => x.summary),
      });
    }
  return { code: r.status, findings, scored: report.map((o) => o.object_name), args };
}
