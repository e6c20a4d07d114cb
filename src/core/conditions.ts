/**
 * Phase and conditions (metav1.Condition shape) from the outcome of a pass. Pure: the clock is an input.
 */
import type { CheckResult, Condition, Phase } from '../api/schema.ts';

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'SchemaValid';
type Status = Condition['status'];

/** Sets or replaces one condition; lastTransitionTime moves only when the status changes. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const old = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : now.toISOString();
  const merged: Condition = { ...next, lastTransitionTime };
  return old ? conditions.map((c) => (c.type === next.type ? merged : c)) : [...conditions, merged];
}

/** What happened in a pass, as far as status is concerned. */
export type Outcome =
  | { kind: 'ready' }
  | { kind: 'healing'; message: string }
  | { kind: 'gaps'; mode: 'ValidateOnly' | 'DryRun' }
  | { kind: 'incomplete'; message: string }
  | { kind: 'failed'; message: string };

export interface ConditionsInput {
  checks: readonly CheckResult[];
  outcome: Outcome;
  generation?: number;
  previous?: readonly Condition[];
  now: Date;
}

export function phaseOf(outcome: Outcome): Phase {
  switch (outcome.kind) {
    case 'ready':
      return 'Ready';
    case 'healing':
      return 'Healing';
    case 'gaps':
    case 'incomplete':
      return 'Degraded';
    case 'failed':
      return 'Failed';
  }
}

function failing(checks: readonly CheckResult[]): string {
  const bad = checks.filter((c) => !c.passed);
  return bad.map((c) => `${c.name}: ${c.message}`).join('; ');
}

export function computeConditions(input: ConditionsInput): Condition[] {
  const { checks, outcome, now } = input;
  const gen = input.generation !== undefined ? { observedGeneration: input.generation } : {};
  let conds = [...(input.previous ?? [])];
  const set = (type: ConditionType, status: Status, reason: string, message: string) => {
    conds = setCondition(conds, { type, status, reason, message, ...gen }, now);
  };
  const failingText = failing(checks);
  switch (outcome.kind) {
    case 'ready':
      set('Ready', 'True', 'AllChecksPassed', `all ${checks.length} checks passed`);
      set('Progressing', 'False', 'Idle', 'nothing to heal');
      set('Degraded', 'False', 'AllChecksPassed', 'all checks passed');
      break;
    case 'healing':
      set('Ready', 'False', 'Healing', failingText || outcome.message);
      set('Progressing', 'True', 'Healing', outcome.message);
      set('Degraded', 'False', 'Healing', 'healing in progress');
      break;
    case 'gaps':
      set('Ready', 'False', 'ChecksFailed', failingText);
      set('Progressing', 'False', outcome.mode, `${outcome.mode}: nothing is written`);
      set('Degraded', 'True', 'ChecksFailed', failingText);
      break;
    case 'incomplete':
      set('Ready', 'False', 'ChecksFailed', failingText || outcome.message);
      set('Progressing', 'False', 'HealingIncomplete', outcome.message);
      set('Degraded', 'True', 'HealingIncomplete', outcome.message);
      break;
    case 'failed':
      set('Ready', 'False', 'Error', outcome.message);
      set('Progressing', 'False', 'Error', outcome.message);
      set('Degraded', 'True', 'Error', outcome.message);
      break;
  }
  const schema = checks.find((c) => c.name === 'schema_integrity');
  if (schema)
    set(
      'SchemaValid',
      schema.passed ? 'True' : 'False',
      schema.passed ? 'SchemaMatches' : 'SchemaMismatch',
      schema.message,
    );
  return conds;
}
