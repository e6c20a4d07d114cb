/**
 * Generates the DatasetState CustomResourceDefinition from the one schema in ./schema.ts, turning the
 * TypeBox (JSON Schema) shapes into the structural OpenAPI v3 subset that Kubernetes accepts.
 */
import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, SpecSchema, StatusSchema, VERSION } from './schema.ts';

type Json = Record<string, unknown>;

const KEEP = [
  'description',
  'default',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
];

function copyKept(from: Json, to: Json): Json {
  for (const k of KEEP) if (from[k] !== undefined) to[k] = from[k];
  return to;
}

/** Converts one schema node (plain JSON Schema as TypeBox emits it) into a structural OpenAPI v3 schema. */
export function toStructural(node: Json): Json {
  if (Array.isArray(node.anyOf)) {
    const members = node.anyOf as Json[];
    const consts = members.filter((m) => m.const !== undefined);
    if (consts.length === members.length)
      return copyKept(node, {
        type: typeof consts[0]!.const === 'number' ? 'integer' : 'string',
        enum: consts.map((m) => m.const),
      });
    const ints = members.filter((m) => m.type === 'integer');
    if (consts.length + ints.length === members.length && ints.length === 1) {
      // int-or-string: an integer or one of a few keywords (e.g. batchSize: auto | n).
      const words = consts.map((m) => JSON.stringify(m.const)).join(', ');
      const min = ints[0]!.minimum;
      const rule =
        `type(self) == string ? self in [${words}] : ` +
        (typeof min === 'number' ? `self >= ${min}` : 'true');
      return copyKept(node, {
        'x-kubernetes-int-or-string': true,
        anyOf: [{ type: 'integer' }, { type: 'string' }],
        'x-kubernetes-validations': [
          { rule, message: `must be ${words} or an integer${typeof min === 'number' ? ` >= ${min}` : ''}` },
        ],
      });
    }
    throw new Error(`toStructural: unsupported union ${JSON.stringify(node)}`);
  }
  if (node.const !== undefined) return copyKept(node, { type: 'string', enum: [node.const] });
  switch (node.type) {
    case 'object': {
      if (node.patternProperties || !node.properties)
        return copyKept(node, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
      const properties: Json = {};
      for (const [k, v] of Object.entries(node.properties as Record<string, Json>))
        properties[k] = toStructural(v);
      const out: Json = copyKept(node, { type: 'object', properties });
      // A property with a default is filled in by the API server before validation: requiring it would only
      // make the enclosing object's own default ({}) invalid.
      const props = node.properties as Record<string, Json>;
      const required = Array.isArray(node.required)
        ? (node.required as string[]).filter((k) => props[k]?.default === undefined)
        : [];
      if (required.length) out.required = required;
      return out;
    }
    case 'array':
      return copyKept(node, { type: 'array', items: toStructural(node.items as Json) });
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return copyKept(node, { type: node.type });
    default:
      // Type.Unknown(): anything goes.
      return copyKept(node, { 'x-kubernetes-preserve-unknown-fields': true });
  }
}

/** The CRD as a plain object. */
export function datasetStateCrd(): Json {
  const plain = (s: unknown) => JSON.parse(JSON.stringify(s)) as Json;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: ['datastate'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Target', type: 'string', jsonPath: '.spec.targetState' },
            { name: 'Docs', type: 'integer', jsonPath: '.spec.docCount' },
            { name: 'Embedded', type: 'integer', jsonPath: '.status.embedded' },
            { name: 'Progress', type: 'string', jsonPath: '.status.progress.percent' },
            {
              name: 'ETA',
              type: 'integer',
              jsonPath: '.status.progress.etaSeconds',
              description:
                'seconds of embedding left at the rate this heal has reached so far (also on a first heal, which has no estimate)',
            },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            {
              name: 'Estimate',
              type: 'number',
              jsonPath: '.status.plan.estimatedSeconds',
              description:
                "seconds the plan's embedding was estimated to take (status.plan.estimateFrom says how)",
            },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'DatasetState declares the state a RAG evaluation dataset must reach; the controller converges to it.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructural(plain(SpecSchema)),
                status: toStructural(plain(StatusSchema)),
              },
            },
          },
        },
      ],
    },
  };
}

export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;

/** The CRD as the YAML text committed under crds/. */
export function datasetStateCrdYaml(): string {
  return (
    '# Generated from src/api/schema.ts by `npm run gen:crd`. Do not edit by hand.\n' +
    stringify(datasetStateCrd(), { lineWidth: 0 })
  );
}
