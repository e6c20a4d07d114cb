/**
 * Parsing of the controller's worker flags: --worker-network-policy-pod-labels (k=v,k=v),
 * --worker-resources (a JSON ResourceRequirements) and --worker-env (NAME=VALUE, repeated). Bad input is a
 * ValidationError naming the flag.
 */
import type { V1EnvVar, V1ResourceRequirements } from '@kubernetes/client-node';
import { ValidationError } from '../api/validate.ts';

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function parseLabels(
  text: string,
  flag = '--worker-network-policy-pod-labels',
): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    const [k, v] = i < 0 ? [part, undefined] : [part.slice(0, i), part.slice(i + 1)];
    if (v === undefined || !LABEL_KEY.test(k) || !LABEL_VALUE.test(v))
      problems.push(`${flag}: ${JSON.stringify(part)} is not a label key=value`);
    else out[k] = v;
  }
  if (!problems.length && !Object.keys(out).length) problems.push(`${flag}: no labels given`);
  if (problems.length) throw new ValidationError(problems);
  return out;
}

const QUANTITY = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$/;

export function parseResources(text: string, flag = '--worker-resources'): V1ResourceRequirements {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ValidationError([`${flag}: not JSON (${(e as Error).message})`]);
  }
  const problems: string[] = [];
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new ValidationError([`${flag}: must be an object`]);
  const out: V1ResourceRequirements = {};
  for (const [k, section] of Object.entries(v)) {
    if (k !== 'requests' && k !== 'limits') {
      problems.push(`${flag}: unknown key ${JSON.stringify(k)} (requests, limits)`);
      continue;
    }
    if (!section || typeof section !== 'object' || Array.isArray(section)) {
      problems.push(`${flag}: ${k} must be an object`);
      continue;
    }
    const q: Record<string, string> = {};
    for (const [name, amount] of Object.entries(section as Record<string, unknown>)) {
      if ((typeof amount !== 'string' && typeof amount !== 'number') || !QUANTITY.test(String(amount)))
        problems.push(`${flag}: ${k}.${name}: ${JSON.stringify(amount)} is not a quantity`);
      else q[name] = String(amount);
    }
    out[k] = q;
  }
  if (problems.length) throw new ValidationError(problems);
  return out;
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
/** Set by the controller itself (worker-manifests.ts): never from --worker-env. */
const OWN_ENV = ['DATASTATE_WORKER_SPEC', 'DATASTATE_HOME', 'DATASTATE_DB_URL', 'DATASTATE_EMBED_THREADS'];

export function parseEnv(items: readonly string[], flag = '--worker-env'): V1EnvVar[] {
  const out = new Map<string, string>();
  const problems: string[] = [];
  for (const item of items) {
    const i = item.indexOf('=');
    const name = i < 0 ? item : item.slice(0, i);
    if (i < 0 || !ENV_NAME.test(name))
      problems.push(`${flag}: ${JSON.stringify(item)} is not NAME=VALUE with a valid variable name`);
    else if (OWN_ENV.includes(name))
      problems.push(`${flag}: ${name} is set by the controller (spec.workers / the database Secret)`);
    else out.set(name, item.slice(i + 1));
  }
  if (problems.length) throw new ValidationError(problems);
  return [...out].map(([name, value]) => ({ name, value }));
}
