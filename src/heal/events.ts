/**
 * What the engine tells its caller while it works: the CLI turns these into a progress bar or lines,
 * the controller into status updates, Kubernetes Events and metrics.
 */
import type { CheckResult, Progress } from '../api/schema.ts';
import type { HealingPlan } from '../core/plan.ts';

export type EngineEvent =
  | { type: 'inspected'; checks: CheckResult[] }
  | { type: 'plan'; plan: HealingPlan }
  | { type: 'schema-created' }
  | { type: 'token-table-recreated'; from: number; to: number }
  | { type: 'load-progress'; loaded: number; needed: number; reloaded: number }
  | { type: 'source-skipped'; origin: string; reason: string }
  | { type: 'orphans-deleted'; docIds: string[] }
  | { type: 'embedder-ready'; modelId: string; dimension: number; synthetic: boolean; seconds: number }
  | { type: 'embed-progress'; progress: Progress; tokens: number }
  | { type: 'batch-retry'; docIds: string[]; attempt: number; delayMs: number; reason: string }
  | { type: 'pass-retry'; attempt: number; delayMs: number; reason: string }
  | { type: 'batch-split'; docIds: string[]; reason: string }
  | { type: 'document-failed'; docId: string; reason: string }
  | { type: 'verified'; checks: CheckResult[] };

export type EngineListener = (event: EngineEvent) => void;
