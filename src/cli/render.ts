/**
 * What the CLI prints: progress while it works (a bar on a TTY, plain lines otherwise, on stderr) and a
 * report at the end (text, or one JSON object with --output json, on stdout).
 */
import type cliProgressModule from 'cli-progress';
import { lazyRequire } from '../core/lazy-require.ts';
import type { CheckResult } from '../api/schema.ts';
import { describePlan, formatDuration, type HealingPlan } from '../core/plan.ts';
import type { EngineEvent } from '../heal/events.ts';
import type { ReconcileResult } from '../heal/reconcile.ts';

/** Loaded when the first bar is drawn (a terminal, not --quiet): other runs do not load it. */
const cliProgress = lazyRequire<typeof cliProgressModule>('cli-progress');

export function checkLine(c: CheckResult): string {
  return `  ${c.passed ? 'PASS' : 'FAIL'}  ${c.name.padEnd(26)} ${c.message}`;
}

export interface ProgressRenderer {
  onEvent(e: EngineEvent): void;
  note(message: string): void;
  stop(): void;
}

/** Progress on stderr: a bar when stderr is a terminal, a line every few seconds otherwise. */
export function progressRenderer(options: {
  tty: boolean;
  quiet: boolean;
  lineEveryMs?: number;
}): ProgressRenderer {
  const err = (s: string) => process.stderr.write(s + '\n');
  let bar: cliProgressModule.SingleBar | null = null;
  let lastLine = 0;
  let lastCount = '';
  const every = options.lineEveryMs ?? 5000;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  const say = (s: string) => {
    if (options.quiet) return;
    if (bar) {
      stopBar();
    }
    err(s);
  };
  return {
    note: (m) => say(`note: ${m}`),
    stop: stopBar,
    onEvent(e) {
      if (options.quiet) return;
      switch (e.type) {
        case 'schema-created':
          say('created the schema');
          break;
        case 'token-table-recreated':
          say(`recreated the empty token table for vectors of dimension ${e.to} (it was made for ${e.from})`);
          break;
        case 'load-progress':
          say(
            `loading documents: ${e.loaded}/${e.needed} with an abstract` +
              (e.reloaded ? `, ${e.reloaded} re-read` : ''),
          );
          break;
        case 'source-skipped':
          say(`skipped ${e.origin}: ${e.reason}`);
          break;
        case 'orphans-deleted':
          say(`deleted the token embeddings of ${e.docIds.length} documents that no longer exist`);
          break;
        case 'embedder-ready':
          say(
            `model ${e.modelId} loaded in ${e.seconds.toFixed(1)} s (dimension ${e.dimension}${e.synthetic ? ', SYNTHETIC weights' : ''})`,
          );
          break;
        case 'batch-retry':
          say(`batch of ${e.docIds.length} failed (${e.reason}); retry ${e.attempt} in ${e.delayMs} ms`);
          break;
        case 'pass-retry':
          say(
            `database unavailable (${e.reason}); trying the pass again in ${e.delayMs} ms (attempt ${e.attempt})`,
          );
          break;
        case 'batch-split':
          say(`batch of ${e.docIds.length} split in half: ${e.reason}`);
          break;
        case 'document-failed':
          say(`document ${e.docId} failed: ${e.reason}`);
          break;
        case 'embed-progress': {
          const p = e.progress;
          if (options.tty) {
            if (!bar) {
              bar = new (cliProgress().SingleBar)(
                {
                  format:
                    'embedding [{bar}] {percentage}% | {value}/{total} docs | {rate} docs/s | {tokens} tokens | ETA {etaText}',
                  stream: process.stderr,
                  hideCursor: true,
                },
                cliProgress().Presets.shades_classic,
              );
              bar.start(p.total, p.processed, { rate: '0', tokens: 0, etaText: '…' });
            }
            bar.update(p.processed, {
              rate: p.rate.toFixed(2),
              tokens: e.tokens,
              etaText: p.etaSeconds === undefined ? '…' : formatDuration(p.etaSeconds),
            });
            if (p.processed >= p.total) stopBar();
          } else {
            const now = Date.now();
            if (now - lastLine < every && p.processed < p.total && p.processed > 0) return;
            // The engine may report a count twice (the last batch, then the phase's end; the start, then a
            // failure before any batch): one line says it.
            const count = `${p.processed}/${p.total}`;
            if (count === lastCount) return;
            lastCount = count;
            lastLine = now;
            err(
              `embedding: ${p.processed}/${p.total} documents (${p.percent.toFixed(1)}%), ${p.rate.toFixed(2)} docs/s, ` +
                `${e.tokens} tokens` +
                (p.etaSeconds !== undefined && p.processed < p.total
                  ? `, ETA ${formatDuration(p.etaSeconds)}`
                  : ''),
            );
          }
          break;
        }
        default:
          break;
      }
    },
  };
}

export interface ReportContext {
  name: string;
  targetState: string;
  docCount: number;
  mode: string;
  store: string;
  notes: string[];
}

export function planText(plan: HealingPlan): string {
  return describePlan(plan)
    .map((l) => `  - ${l}`)
    .join('\n');
}

export function textReport(r: ReconcileResult, ctx: ReportContext): string {
  const out: string[] = [];
  out.push(`datastate: ${ctx.targetState}, ${ctx.docCount} documents, ${ctx.mode}, ${ctx.store}`);
  const healedSomething =
    r.healed.schemaCreated ||
    r.healed.documentsLoaded ||
    r.healed.orphansDeleted ||
    r.healed.embedded ||
    r.healed.documentsReloaded;
  // ValidateOnly and DryRun write nothing: their checks are said once, before the plan. AutoFix says them after
  // it, and before it too when it healed something.
  const autoFix = ctx.mode === 'AutoFix';
  if (!autoFix || healedSomething) {
    out.push('', autoFix ? 'checks before:' : 'checks:');
    out.push(...r.initialChecks.map(checkLine));
  }
  out.push('', autoFix && healedSomething ? 'healing plan (done):' : 'healing plan:');
  out.push(planText(r.plan));
  if (healedSomething) {
    const h = r.healed;
    out.push(
      '',
      `healed: ${h.schemaCreated ? 'schema created, ' : ''}${h.documentsLoaded} documents loaded, ${h.documentsReloaded} re-read, ` +
        `${h.orphansDeleted} orphaned embedding sets deleted, ${h.embedded} documents embedded (${h.tokens} token vectors)`,
    );
  }
  if (r.failures.length) {
    out.push('', `failed documents (${r.failures.length}):`);
    out.push(...r.failures.slice(0, 20).map((f) => `  ${f.docId}: ${f.reason}`));
    if (r.failures.length > 20) out.push(`  … and ${r.failures.length - 20} more (see --output json)`);
  }
  if (r.skippedFiles.length) {
    out.push('', `source items skipped, unreadable or rejected by the database (${r.skippedFiles.length}):`);
    out.push(...r.skippedFiles.slice(0, 20).map((f) => `  ${f.origin}: ${f.reason}`));
    if (r.skippedFiles.length > 20)
      out.push(`  … and ${r.skippedFiles.length - 20} more (see --output json)`);
  }
  if (autoFix) {
    out.push('', healedSomething ? 'checks after healing:' : 'checks:');
    out.push(...r.checks.map(checkLine));
  }
  for (const n of ctx.notes) out.push('', `note: ${n}`);
  out.push('');
  if (r.ready) out.push(`READY: ${r.embedded}/${ctx.docCount} documents embedded; the target state holds.`);
  else if (r.outcome.kind === 'gaps') {
    const failed = r.checks.filter((c) => !c.passed).length;
    out.push(
      `NOT READY: ${failed} ${failed === 1 ? 'check' : 'checks'} failed (${ctx.mode}: nothing was written).`,
    );
  } else out.push(`NOT READY: ${'message' in r.outcome ? r.outcome.message : 'checks failed'}.`);
  return out.join('\n');
}

export function jsonReport(r: ReconcileResult, ctx: ReportContext): unknown {
  return {
    name: ctx.name,
    targetState: ctx.targetState,
    docCount: ctx.docCount,
    mode: ctx.mode,
    store: ctx.store,
    ready: r.ready,
    outcome: r.outcome,
    documents: r.documents,
    embedded: r.embedded,
    initialChecks: r.initialChecks,
    checks: r.checks,
    plan: {
      ...r.plan.summary,
      lines: describePlan(r.plan),
      embed: r.plan.embed,
      orphanDocIds: r.plan.orphanDocIds,
      reloadDocIds: r.plan.reloadDocIds,
    },
    healed: r.healed,
    failures: r.failures,
    skippedFiles: r.skippedFiles,
    model: r.model,
    notes: ctx.notes,
    error: null,
  };
}

/** The JSON report of a run that ended with an error before it had a result: same keys that apply, and error. */
export function jsonErrorReport(
  error: { kind: string; message: string; exitCode: number },
  ctx: Partial<ReportContext>,
): unknown {
  return {
    name: ctx.name ?? null,
    targetState: ctx.targetState ?? null,
    docCount: ctx.docCount ?? null,
    mode: ctx.mode ?? null,
    store: ctx.store ?? null,
    ready: false,
    outcome: { kind: 'error', message: error.message },
    error,
    notes: ctx.notes ?? [],
  };
}
