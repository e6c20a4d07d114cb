/**
 * The synthetic source: generated English-like biomedical articles, NOT real text. It exists so that the
 * whole pipeline runs on a fresh clone with nothing to download (no real corpus of abstracts can be had from
 * the package registries; see docs/corpus.md). Everything about it says so: the source's `synthetic` flag,
 * its description, every title ("[Synthetic] ...") and every origin ("synthetic:seed=N/SYN000001").
 *
 * Document i (1-based, id "SYN" + 6 digits) depends only on (seed, i): any prefix of the corpus is the same
 * however many documents are asked for, and a document can be made alone (syntheticDocument). The shape
 * follows the real PMC corpus: abstracts of ~370 bert-base-uncased word pieces on average (log-normal; about
 * one in nine over 512 pieces), about 5% of documents without an abstract, about 45% structured abstracts
 * (Background / Methods / Results / Conclusions), 2-10 authors, 3-6 keywords, a body of a few sections.
 */
import type { DocumentRecord, SourceItem } from '../core/types.ts';
import { emptyStats, type CorpusSource, type SourceStats } from './source.ts';

export const DEFAULT_SYNTHETIC_SEED = 42;
/** Ids have six digits, so that their text order is their number order. */
export const MAX_SYNTHETIC_DOCS = 999_999;
export const SYNTHETIC_TITLE_PREFIX = '[Synthetic] ';

export function syntheticDocId(i: number): string {
  return `SYN${String(i).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------
// A small, fast, portable PRNG: integer arithmetic only (Math.imul), so every platform draws the same numbers.

function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** mulberry32: the next uint32. */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.float() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  /** Approximately standard normal (Irwin-Hall: sum of 12 uniforms minus 6); additions only. */
  normal(): number {
    let s = 0;
    for (let k = 0; k < 12; k++) s += this.float();
    return s - 6;
  }
}

function docRng(seed: number, i: number): Rng {
  return new Rng(mix32(mix32(seed) ^ Math.imul(i, 0x9e3779b1)));
}

// ---------------------------------------------------------------------------------------------------------
// Vocabulary.

const DISEASES = [
  'type 2 diabetes',
  'breast cancer',
  'colorectal cancer',
  'non-small cell lung cancer',
  'hepatocellular carcinoma',
  'Alzheimer disease',
  'Parkinson disease',
  'multiple sclerosis',
  'rheumatoid arthritis',
  'chronic kidney disease',
  'heart failure',
  'atrial fibrillation',
  'sepsis',
  'tuberculosis',
  'malaria',
  'COVID-19',
  'asthma',
  'chronic obstructive pulmonary disease',
  'glioblastoma',
  'acute myeloid leukemia',
  'psoriasis',
  'osteoarthritis',
  'major depressive disorder',
  'schizophrenia',
  'obesity',
  'nonalcoholic fatty liver disease',
  'ulcerative colitis',
  'Crohn disease',
  'pancreatic ductal adenocarcinoma',
  'melanoma',
  'prostate cancer',
  'ischemic stroke',
  'hypertension',
  'systemic lupus erythematosus',
  'cystic fibrosis',
  'influenza',
  'HIV infection',
  'osteoporosis',
];
const GENES = [
  'TP53',
  'KRAS',
  'EGFR',
  'BRCA1',
  'MYC',
  'PTEN',
  'IL-6',
  'TNF-alpha',
  'STAT3',
  'NF-kB',
  'mTOR',
  'AKT1',
  'VEGFA',
  'PD-L1',
  'HER2',
  'APOE',
  'SIRT1',
  'HIF-1alpha',
  'TGF-beta',
  'NLRP3',
  'GLP-1 receptor',
  'ACE2',
  'CD8',
  'FOXP3',
  'BCL-2',
  'CDK4/6',
  'JAK2',
  'PPAR-gamma',
  'AMPK',
  'Wnt/beta-catenin',
  'Notch1',
  'SOX2',
  'IL-17A',
  'CXCL12',
];
const CELLS = [
  'T cells',
  'B cells',
  'macrophages',
  'hepatocytes',
  'cardiomyocytes',
  'neurons',
  'astrocytes',
  'microglia',
  'endothelial cells',
  'fibroblasts',
  'adipocytes',
  'keratinocytes',
  'podocytes',
  'osteoblasts',
  'mesenchymal stem cells',
  'natural killer cells',
  'dendritic cells',
  'epithelial cells',
  'platelets',
  'pancreatic beta cells',
  'regulatory T cells',
  'tumor-associated macrophages',
  'induced pluripotent stem cells',
];
const PROCESSES = [
  'inflammation',
  'apoptosis',
  'autophagy',
  'oxidative stress',
  'insulin resistance',
  'angiogenesis',
  'fibrosis',
  'cell proliferation',
  'epithelial-mesenchymal transition',
  'mitochondrial dysfunction',
  'immune evasion',
  'lipid metabolism',
  'DNA damage repair',
  'synaptic plasticity',
  'neurodegeneration',
  'tumor progression',
  'drug resistance',
  'glucose homeostasis',
  'endothelial dysfunction',
  'bone remodeling',
  'ferroptosis',
  'senescence',
  'cytokine signaling',
  'metastasis',
  'viral replication',
  'barrier function',
];
const METHODS = [
  'a randomized controlled trial',
  'a prospective cohort study',
  'a retrospective cohort study',
  'a case-control study',
  'a cross-sectional survey',
  'a systematic review and meta-analysis',
  'single-cell RNA sequencing',
  'whole-exome sequencing',
  'a genome-wide association study',
  'a mouse model',
  'a zebrafish model',
  'organoid cultures',
  'mass spectrometry-based proteomics',
  'a machine learning model',
  'Mendelian randomization',
  'CRISPR-Cas9 screening',
  'flow cytometry',
  'immunohistochemistry',
  'quantitative PCR',
  'magnetic resonance imaging',
  'a nationwide registry',
];
const INTERVENTIONS = [
  'metformin',
  'atorvastatin',
  'aspirin',
  'pembrolizumab',
  'semaglutide',
  'dexamethasone',
  'tocilizumab',
  'empagliflozin',
  'vitamin D supplementation',
  'exercise training',
  'a Mediterranean diet',
  'cognitive behavioral therapy',
  'radiotherapy',
  'neoadjuvant chemotherapy',
  'rapamycin',
  'resveratrol',
  'low-dose colchicine',
  'bariatric surgery',
  'a telehealth intervention',
  'fecal microbiota transplantation',
  'an mRNA vaccine',
  'intermittent fasting',
];
const OUTCOMES = [
  'overall survival',
  'progression-free survival',
  'all-cause mortality',
  'hospital readmission',
  'HbA1c',
  'quality of life',
  'disease activity',
  'tumor volume',
  'cognitive decline',
  'infection rate',
  'body mass index',
  'blood pressure',
  'serum creatinine',
  'viral load',
  'pain scores',
  'relapse rate',
  'treatment response',
  'length of stay',
  'left ventricular ejection fraction',
  'bone mineral density',
];
const ORGANISMS = [
  'patients',
  'adults',
  'children',
  'older adults',
  'mice',
  'rats',
  'healthy volunteers',
  'women',
  'participants',
];
const SAMPLES = [
  'serum',
  'plasma',
  'tumor tissue',
  'peripheral blood',
  'biopsy specimens',
  'cerebrospinal fluid',
  'stool samples',
  'urine',
];
const ADJ = [
  'significant',
  'modest',
  'marked',
  'robust',
  'consistent',
  'substantial',
  'moderate',
  'transient',
  'sustained',
];
const DIRECTIONS = [
  'increased',
  'reduced',
  'improved',
  'attenuated',
  'enhanced',
  'suppressed',
  'restored',
  'impaired',
];
const COUNTRIES = [
  'the United States',
  'China',
  'Japan',
  'Germany',
  'Brazil',
  'India',
  'Sweden',
  'Canada',
  'Australia',
  'the United Kingdom',
  'Korea',
  'Italy',
];
const GIVEN = [
  'Wei',
  'Maria',
  'John',
  'Aisha',
  'Hiroshi',
  'Elena',
  'David',
  'Priya',
  'Lars',
  'Fatima',
  'Carlos',
  'Anna',
  'Mohammed',
  'Sofia',
  'Jin',
  'Laura',
  'Kwame',
  'Ingrid',
  'Rahul',
  'Chloe',
  'Tomasz',
  'Yuki',
  'Olga',
  'Daniel',
];
const SURNAMES = [
  'Zhang',
  'Garcia',
  'Smith',
  'Khan',
  'Tanaka',
  'Rossi',
  'Cohen',
  'Patel',
  'Nielsen',
  'Haddad',
  'Silva',
  'Novak',
  'Ali',
  'Martin',
  'Kim',
  'Schmidt',
  'Mensah',
  'Larsen',
  'Gupta',
  'Dubois',
  'Kowalski',
  'Sato',
  'Ivanova',
  'Brown',
  'Nguyen',
  'Lopez',
  'Andersson',
  'Okafor',
  'Wang',
  'Muller',
];

// ---------------------------------------------------------------------------------------------------------
// Sentences: each template draws its slots from the document's topic (mostly) or at random.

interface Topic {
  disease: string;
  gene: string;
  cell: string;
  process: string;
  method: string;
  intervention: string;
  outcome: string;
  organism: string;
  sample: string;
}

type Template = (t: Topic, r: Rng) => string;

const num = (r: Rng, lo: number, hi: number): string => String(r.int(lo, hi));
const pval = (r: Rng): string =>
  r.pick(['p < 0.001', 'p < 0.01', 'p = 0.002', 'p = 0.03', 'p = 0.04', 'p < 0.05', 'p = 0.12']);
const ci = (r: Rng): string => {
  const mid = 0.5 + r.float() * 1.5;
  const lo = (mid * (0.6 + r.float() * 0.3)).toFixed(2);
  const hi = (mid * (1.1 + r.float() * 0.6)).toFixed(2);
  return `${r.pick(['hazard ratio', 'odds ratio', 'relative risk'])} ${mid.toFixed(2)}; 95% CI ${lo}-${hi}`;
};
const other = <T>(r: Rng, xs: readonly T[], not: T): T => {
  const x = r.pick(xs);
  return x === not ? r.pick(xs) : x;
};

const BACKGROUND: Template[] = [
  (t) =>
    `${cap(t.disease)} remains a leading cause of morbidity and mortality worldwide, and effective strategies for prevention and treatment are still limited.`,
  (t) => `Accumulating evidence suggests that ${t.process} contributes to the pathogenesis of ${t.disease}.`,
  (t) =>
    `${t.gene} has been implicated in ${t.process}, but its role in ${t.cell} remains poorly understood.`,
  (t, r) =>
    `The mechanisms linking ${t.process} and ${other(r, PROCESSES, t.process)} in ${t.disease} have not been fully characterized.`,
  (t) =>
    `Previous studies have reported conflicting results regarding the association between ${t.gene} expression and ${t.outcome} in ${t.organism} with ${t.disease}.`,
  (t) => `Whether ${t.intervention} modifies ${t.outcome} in ${t.organism} with ${t.disease} is unclear.`,
  (t, r) =>
    `Dysregulated ${t.process} in ${t.cell} is a hallmark of ${t.disease} and of several ${r.pick(['metabolic', 'inflammatory', 'neoplastic', 'degenerative'])} conditions.`,
  (t) => `Biomarkers that predict ${t.outcome} could improve the management of ${t.disease}.`,
];
const OBJECTIVE: Template[] = [
  (t) => `We aimed to investigate the role of ${t.gene} in ${t.process} in ${t.disease}.`,
  (t) =>
    `This study evaluated the effect of ${t.intervention} on ${t.outcome} in ${t.organism} with ${t.disease}.`,
  (t) => `Here, we examined whether ${t.gene} signaling in ${t.cell} regulates ${t.process}.`,
  (t) => `The objective was to assess the association between circulating ${t.gene} levels and ${t.outcome}.`,
];
const METHOD_SENTENCES: Template[] = [
  (t, r) =>
    `We conducted ${t.method} including ${num(r, 40, 12000)} ${t.organism} from ${r.pick(COUNTRIES)}.`,
  (t, r) =>
    `Samples of ${t.sample} were collected at baseline and after ${num(r, 4, 52)} weeks of follow-up.`,
  (t, r) =>
    `Expression of ${t.gene} in ${t.cell} was quantified by ${r.pick(['quantitative PCR', 'RNA sequencing', 'immunohistochemistry', 'western blotting', 'flow cytometry'])} and ${r.pick(['immunoblotting', 'ELISA', 'confocal microscopy'])}.`,
  (t, r) =>
    `Participants were randomly assigned to ${t.intervention} or placebo in a ${r.pick(['1:1', '2:1'])} ratio.`,
  (t, r) =>
    `The primary end point was ${t.outcome}; secondary end points included ${other(r, OUTCOMES, t.outcome)} and adverse events.`,
  () => `Multivariable regression models were adjusted for age, sex, body mass index, and comorbidities.`,
  (t, r) =>
    `${cap(t.cell)} were isolated from ${r.pick(['wild-type', 'knockout', 'transgenic'])} mice and stimulated with ${r.pick(['lipopolysaccharide', 'interferon-gamma', 'high glucose', 'hypoxia', 'palmitate'])} for ${num(r, 6, 72)} hours.`,
  (t) => `Gene set enrichment analysis was used to identify pathways associated with ${t.process}.`,
  (t, r) =>
    `Survival was estimated with the Kaplan-Meier method and compared using Cox proportional hazards models over a median follow-up of ${num(r, 6, 96)} months.`,
  (t) =>
    `Knockdown of ${t.gene} was achieved with small interfering RNA, and rescue experiments were performed with an overexpression construct.`,
];
const RESULT_SENTENCES: Template[] = [
  (t, r) => `${cap(t.intervention)} ${r.pick(DIRECTIONS)} ${t.outcome} compared with control (${ci(r)}).`,
  (t, r) =>
    `${t.gene} expression was ${r.pick(['higher', 'lower'])} in ${t.cell} from ${t.organism} with ${t.disease} than in controls (${pval(r)}).`,
  (t, r) =>
    `Loss of ${t.gene} ${r.pick(DIRECTIONS)} ${t.process} and ${r.pick(DIRECTIONS)} ${other(r, PROCESSES, t.process)} in vitro and in vivo.`,
  (t, r) =>
    `A total of ${num(r, 12, 4800)} differentially expressed genes were identified, enriched in pathways related to ${t.process} and ${other(r, PROCESSES, t.process)}.`,
  (t, r) =>
    `During follow-up, ${num(r, 5, 900)} events occurred; higher ${t.gene} levels were associated with worse ${t.outcome} (${ci(r)}).`,
  (t, r) =>
    `The effect was ${r.pick(ADJ)} in ${r.pick(['older', 'younger', 'female', 'male'])} participants and in those with ${other(r, DISEASES, t.disease)}.`,
  (t, r) =>
    `Adverse events occurred in ${num(r, 2, 40)}% of the intervention group and ${num(r, 2, 40)}% of the control group.`,
  (t, r) =>
    `Mechanistically, ${t.gene} bound to ${other(r, GENES, t.gene)} and promoted its ${r.pick(['phosphorylation', 'ubiquitination', 'nuclear translocation', 'degradation', 'transcription'])}.`,
  (t, r) => `The model achieved an area under the curve of 0.${num(r, 70, 95)} in the validation cohort.`,
  (t, r) =>
    `No ${r.pick(ADJ)} difference in ${other(r, OUTCOMES, t.outcome)} was observed between groups (${pval(r)}).`,
];
const CONCLUSION: Template[] = [
  (t) =>
    `These findings identify ${t.gene} as a key regulator of ${t.process} and a potential therapeutic target in ${t.disease}.`,
  (t) =>
    `${cap(t.intervention)} may be a safe and effective option to improve ${t.outcome} in ${t.organism} with ${t.disease}.`,
  (t) =>
    `Our results support further investigation of ${t.process} in ${t.cell} as a driver of ${t.disease}.`,
  () =>
    `Larger prospective studies are needed to confirm these observations and to define their clinical relevance.`,
  (t) => `Targeting ${t.gene} signaling could complement current treatment strategies for ${t.disease}.`,
];
const SECTION_TEMPLATES: Record<string, Template[]> = {
  Background: [...BACKGROUND, ...OBJECTIVE],
  Methods: METHOD_SENTENCES,
  Results: RESULT_SENTENCES,
  Conclusions: CONCLUSION,
};
const SECTION_SHARE: [string, number][] = [
  ['Background', 0.22],
  ['Methods', 0.26],
  ['Results', 0.36],
  ['Conclusions', 0.16],
];

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
function words(s: string): number {
  let n = 0;
  for (const _ of s.matchAll(/\S+/g)) n++;
  return n;
}

function shuffled(n: number, r: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Sentences from `templates`, as close to `target` words as whole sentences get (at least one). */
function sentences(templates: readonly Template[], topic: Topic, r: Rng, target: number): string {
  const out: string[] = [];
  let n = 0;
  // Draw templates from a shuffled bag, so that a template comes back only after all the others.
  let bag: number[] = [];
  for (;;) {
    if (bag.length === 0) bag = shuffled(templates.length, r);
    const s = templates[bag.pop()!]!(topic, r);
    const w = words(s);
    if (out.length > 0 && n + w / 2 > target) break;
    out.push(s);
    n += w;
  }
  return out.join(' ');
}

/**
 * Bert-base-uncased word pieces per whitespace-separated word of this generator's abstracts (measured: 1.473
 * over the first 5,000 documents; test/embed/abstract-token-lengths.test.ts), used to turn piece targets into
 * word targets.
 */
export const PIECES_PER_WORD = 1.47;
/**
 * Log-normal abstract length in word pieces (median e^MU ~ 347, sigma 0.3), aimed at the real corpus: measured
 * over the first 5,000 documents, mean 368 pieces and 10.4% over 512 (the PMC archive: 360 and 10.7%).
 */
const MU = 5.85;
const SIGMA = 0.3;

function topicOf(r: Rng): Topic {
  return {
    disease: r.pick(DISEASES),
    gene: r.pick(GENES),
    cell: r.pick(CELLS),
    process: r.pick(PROCESSES),
    method: r.pick(METHODS),
    intervention: r.pick(INTERVENTIONS),
    outcome: r.pick(OUTCOMES),
    organism: r.pick(ORGANISMS),
    sample: r.pick(SAMPLES),
  };
}

const TITLES: Template[] = [
  (t) => `${t.gene} regulates ${t.process} in ${t.cell} in ${t.disease}`,
  (t) => `Effect of ${t.intervention} on ${t.outcome} in ${t.organism} with ${t.disease}: ${t.method}`,
  (t) => `Association of circulating ${t.gene} with ${t.outcome} in ${t.disease}`,
  (t) => `Targeting ${t.gene} attenuates ${t.process} and ${t.disease} progression`,
  (t) => `${cap(t.process)} in ${t.cell}: insights from ${t.method.replace(/^an? /, '')}`,
  (t, r) =>
    `The role of ${t.gene} in ${t.disease}: ${r.pick(['a review', 'mechanisms and therapeutic implications', 'evidence from human and animal studies'])}`,
];

function abstractOf(topic: Topic, r: Rng): string {
  const pieces = Math.min(1800, Math.max(60, Math.round(Math.exp(MU + SIGMA * r.normal()))));
  const target = Math.round(pieces / PIECES_PER_WORD);
  if (r.chance(0.45)) {
    return SECTION_SHARE.map(
      ([name, share]) =>
        `${name}\n${sentences(SECTION_TEMPLATES[name]!, topic, r, Math.max(8, Math.round(target * share)))}`,
    ).join('\n\n');
  }
  return SECTION_SHARE.map(([name, share]) =>
    sentences(SECTION_TEMPLATES[name]!, topic, r, Math.max(6, Math.round(target * share))),
  ).join(' ');
}

function bodyOf(topic: Topic, r: Rng): string {
  const sections: [string, readonly Template[]][] = [
    ['Introduction', BACKGROUND],
    ['Methods', METHOD_SENTENCES],
    ['Results', RESULT_SENTENCES],
    ['Discussion', [...CONCLUSION, ...BACKGROUND]],
  ];
  return sections
    .map(([title, templates]) => {
      const paragraphs: string[] = [];
      const n = r.int(1, 3);
      for (let k = 0; k < n; k++) paragraphs.push(sentences(templates, topic, r, r.int(40, 140)));
      return `${title}\n${paragraphs.join('\n')}`;
    })
    .join('\n\n');
}

/** Synthetic document number i (1-based) of the corpus with this seed. */
export function syntheticDocument(i: number, seed: number = DEFAULT_SYNTHETIC_SEED): DocumentRecord {
  if (!Number.isInteger(i) || i < 1 || i > MAX_SYNTHETIC_DOCS)
    throw new RangeError(`synthetic document number must be 1..${MAX_SYNTHETIC_DOCS}, got ${i}`);
  const r = docRng(seed, i);
  const topic = topicOf(r);
  const hasAbstract = !r.chance(0.05);
  const title = SYNTHETIC_TITLE_PREFIX + cap(r.pick(TITLES)(topic, r));
  const authors: string[] = [];
  const nAuthors = r.int(2, 10);
  for (let k = 0; k < nAuthors; k++) {
    const initial = r.chance(0.4) ? ` ${String.fromCharCode(65 + r.int(0, 25))}.` : '';
    authors.push(`${r.pick(GIVEN)}${initial} ${r.pick(SURNAMES)}`);
  }
  const keywordPool = [
    topic.disease,
    topic.gene,
    topic.process,
    topic.cell,
    topic.intervention,
    topic.outcome,
    topic.method.replace(/^an? /, ''),
  ];
  const keywords: string[] = [];
  const nKeywords = r.int(3, 6);
  while (keywords.length < nKeywords) {
    const k = keywordPool.splice(Math.floor(r.float() * keywordPool.length), 1)[0]!;
    keywords.push(k);
  }
  const abstract = hasAbstract ? abstractOf(topic, r) : '';
  const textContent = bodyOf(topic, r);
  const year = r.int(1995, 2025);
  const month = r.int(1, 12);
  const day = r.int(1, 28);
  const docId = syntheticDocId(i);
  return {
    docId,
    title,
    abstract,
    textContent,
    authors,
    keywords,
    pubDate: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
    origin: `synthetic:seed=${seed}/${docId}`,
  };
}

export interface SyntheticOptions {
  seed?: number;
  /** How many documents to yield (default and maximum MAX_SYNTHETIC_DOCS). */
  count?: number;
}

export class SyntheticSource implements CorpusSource {
  readonly type = 'synthetic' as const;
  readonly synthetic = true;
  readonly description: string;
  readonly seed: number;
  readonly count: number;
  #stats: SourceStats = emptyStats();

  constructor(opts: SyntheticOptions = {}) {
    this.seed = opts.seed ?? DEFAULT_SYNTHETIC_SEED;
    this.count = opts.count ?? MAX_SYNTHETIC_DOCS;
    this.description = `synthetic corpus (generated text, not real articles; seed ${this.seed}, up to ${this.count.toLocaleString('en-US')} documents)`;
  }

  get stats(): SourceStats {
    return this.#stats;
  }

  async *items(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    const stats = (this.#stats = emptyStats());
    // Ids are unique by construction: no need to remember them (a million would cost ~100 MB).
    for (let i = 1; i <= this.count; i++) {
      if (i % 1000 === 0) await new Promise<void>((r) => setImmediate(r)); // let timers and I/O run
      signal?.throwIfAborted();
      const doc = syntheticDocument(i, this.seed);
      stats.files++;
      stats.documents++;
      if (doc.abstract !== '') stats.withAbstract++;
      yield { ok: true, doc };
    }
  }
}
