/**
 * PMC JATS XML -> DocumentRecord. One file holds one <article> (or, as PMC's efetch returns them, several
 * inside a <pmc-articleset>). What we take, and why, is in docs/corpus.md; in short:
 * - docId: <article-id pub-id-type="pmc|pmcid|pmc-uid"> as "PMC<digits>", else the file name if it is one;
 * - title: <article-title>, inline markup flattened;
 * - abstract: every <abstract> of the article-meta except editorial blurbs (graphical, teaser, toc,
 *   web-summary), with section titles; lines within a section joined by "\n", sections by "\n\n";
 * - authors "Given Surname", keywords, pubDate (electronic publication first), body text likewise.
 */
import { basename, extname } from 'node:path';
import type { DocumentRecord, SourceItem } from '../core/types.ts';
import { describeError } from './errors.ts';
import { encodingFailure } from './source.ts';
import { decodeXml, EncodingError, isoDate, normalizeSpace } from './text.ts';
import {
  childElements,
  firstChild,
  localName,
  parseXml,
  rawText,
  XmlSyntaxError,
  type XmlElement,
} from './xml.ts';

/** Abstract types that are editorial blurbs, not the article's abstract. */
export const EXCLUDED_ABSTRACT_TYPES: ReadonlySet<string> = new Set([
  'graphical',
  'teaser',
  'toc',
  'web-summary',
]);

/** Subtrees we never read: left out of the tree while parsing (they are still checked for well-formedness). */
const SKIP_TREE: ReadonlySet<string> = new Set([
  'back',
  'floats-group',
  'sub-article',
  'response',
  'journal-meta',
  'permissions',
  'ref-list',
  'table-wrap',
  'table-wrap-group',
  'fig',
  'fig-group',
  'supplementary-material',
  'processing-meta',
  'aff',
  'author-notes',
  'history',
  'funding-group',
  'custom-meta-group',
  'graphic',
  'inline-graphic',
  'media',
]);

/** Inline content left out of flattened text. */
const DROP_INLINE: ReadonlySet<string> = new Set([
  'fn',
  'fn-group',
  'object-id',
  'annotation',
  'annotation-xml',
]);
/** Left out of titles as well: footnote and affiliation markers. */
const DROP_IN_TITLE: ReadonlySet<string> = new Set(['xref', 'fn']);

/** Elements whose boundaries separate words even inside a paragraph. */
const SPACED: ReadonlySet<string> = new Set([
  'p',
  'sec',
  'title',
  'label',
  'list',
  'list-item',
  'def-list',
  'def-item',
  'term',
  'def',
  'break',
  'disp-quote',
  'disp-formula',
  'statement',
  'boxed-text',
  'caption',
  'td',
  'th',
  'tr',
  'kwd',
  'given-names',
  'surname',
  'name',
  'string-name',
  'attrib',
  'speech',
  'verse-line',
  'compound-kwd-part',
]);

/** Containers of block content: rendered block by block (each child its own line). */
const CONTAINERS: ReadonlySet<string> = new Set([
  'list',
  'list-item',
  'def-list',
  'def-item',
  'disp-quote',
  'statement',
  'verse-group',
  'speech',
  'glossary',
]);
/** Block containers that start a new section (a blank line before and after). */
const SECTIONS: ReadonlySet<string> = new Set(['sec', 'app', 'app-group', 'ack', 'boxed-text', 'notes']);
const BLOCK_CHILDREN: ReadonlySet<string> = new Set([
  'p',
  'sec',
  'title',
  'list',
  'def-list',
  'disp-quote',
  'statement',
  'boxed-text',
  'list-item',
  'def-item',
]);

type InlineMode = 'text' | 'title';

function flattenInto(el: XmlElement, out: string[], mode: InlineMode): void {
  for (const c of el.children) {
    if (typeof c === 'string') {
      out.push(c);
      continue;
    }
    const name = c.name;
    if (DROP_INLINE.has(localName(name)) || (mode === 'title' && DROP_IN_TITLE.has(name))) continue;
    if (name === 'alternatives') {
      const pick = pickAlternative(c);
      if (pick !== undefined) flattenOne(pick, out, mode);
      continue;
    }
    flattenOne(c, out, mode);
  }
}

/**
 * A superscript that only holds citation links ("...products<sup><xref>1</xref>-<xref>4</xref></sup>").
 * Left out: as text it would glue numbers to the word before it ("products1-4"). Units (mm<sup>3</sup>) stay.
 */
function isCitationSup(el: XmlElement): boolean {
  let refs = 0;
  for (const c of el.children) {
    if (typeof c === 'string') {
      if (!/^[\s,;\-\u2010-\u2015\u2212()[\]]*$/.test(c)) return false;
    } else if (c.name === 'xref' && (c.attrs['ref-type'] ?? 'bibr') === 'bibr') {
      refs++;
    } else {
      return false;
    }
  }
  return refs > 0;
}

function flattenOne(c: XmlElement, out: string[], mode: InlineMode): void {
  if (c.name === 'sup' && isCitationSup(c)) {
    return;
  } else if (c.name === 'tex-math') {
    out.push(cleanTex(rawText(c)));
  } else if (localName(c.name) === 'math') {
    out.push(mathText(c));
  } else if (SPACED.has(c.name)) {
    out.push(' ');
    flattenInto(c, out, mode);
    out.push(' ');
  } else {
    flattenInto(c, out, mode);
  }
}

/** Plain text of an element: inline markup flattened, whitespace normalized. */
export function flatten(el: XmlElement, mode: InlineMode = 'text'): string {
  const out: string[] = [];
  flattenInto(el, out, mode);
  return normalizeSpace(out.join(''));
}

/** Of the alternative forms of a formula (MathML, TeX, an image), the one that reads best as text. */
function pickAlternative(alt: XmlElement): XmlElement | undefined {
  const kids = childElements(alt);
  return (
    kids.find((k) => localName(k.name) === 'math') ??
    kids.find((k) => k.name === 'tex-math') ??
    kids.find((k) => !['graphic', 'inline-graphic', 'media'].includes(k.name))
  );
}

/** MathML as text: the character data of its tokens, side by side ("p<0.05"). */
function mathText(el: XmlElement): string {
  let s = '';
  for (const c of el.children) {
    if (typeof c === 'string') s += c;
    else if (!DROP_INLINE.has(localName(c.name))) s += mathText(c);
  }
  return s;
}

/** TeX from PMC's tex-math: the formula without the LaTeX document around it and without $ delimiters. */
export function cleanTex(tex: string): string {
  let s = tex;
  const b = s.indexOf('\\begin{document}');
  if (b >= 0) {
    s = s.slice(b + '\\begin{document}'.length);
    const e = s.indexOf('\\end{document}');
    if (e >= 0) s = s.slice(0, e);
  }
  return s.replace(/\$/g, '').replace(/\\(displaystyle|textstyle)\b\s*/g, '');
}

// ---------------------------------------------------------------------------------------------------------
// Block text: abstracts and bodies.

type Line = { title: boolean; text: string };
const BREAK = null;
type Event = Line | typeof BREAK;

function hasBlockChild(el: XmlElement): boolean {
  for (const c of el.children) if (typeof c !== 'string' && BLOCK_CHILDREN.has(c.name)) return true;
  return false;
}

function renderBlocks(el: XmlElement, ev: Event[], dropTitle?: (t: string) => boolean): void {
  let label = '';
  // `text` is already normalized (flatten does it).
  const push = (text: string, title: boolean): void => {
    const t = label === '' ? text : text === '' ? label : `${label} ${text}`;
    label = '';
    if (t !== '') ev.push({ title, text: t });
  };
  for (const c of el.children) {
    if (typeof c === 'string') {
      const t = normalizeSpace(c);
      if (t !== '') push(t, false);
      continue;
    }
    const name = c.name;
    if (DROP_INLINE.has(name) || name === 'sec-meta') continue;
    if (name === 'label') {
      label = flatten(c);
    } else if (name === 'title') {
      const t = flatten(c, 'title');
      if (dropTitle?.(t)) label = '';
      else push(t, true);
    } else if (SECTIONS.has(name)) {
      ev.push(BREAK);
      renderBlocks(c, ev);
      ev.push(BREAK);
    } else if (CONTAINERS.has(name) || (name !== 'p' && hasBlockChild(c))) {
      renderBlocks(c, ev);
    } else if (name === 'alternatives') {
      const pick = pickAlternative(c);
      if (pick !== undefined) push(flatten({ name: '#', attrs: {}, children: [pick] }), false);
    } else {
      push(flatten(c), false);
    }
  }
}

/**
 * Lines of one section joined by "\n", sections by "\n\n". A heading with no text of its own (e.g.
 * "Methods" directly followed by subsections) goes with the section after it; a trailing one is dropped.
 */
function assemble(ev: Event[]): string {
  const groups: Line[][] = [];
  let cur: Line[] = [];
  for (const e of ev) {
    if (e === BREAK) {
      if (cur.length > 0) groups.push(cur);
      cur = [];
    } else {
      cur.push(e);
    }
  }
  if (cur.length > 0) groups.push(cur);
  const out: string[] = [];
  let pendingHeads: string[] = [];
  for (const g of groups) {
    if (g.every((l) => l.title)) {
      pendingHeads.push(...g.map((l) => l.text));
      continue;
    }
    out.push([...pendingHeads, ...g.map((l) => l.text)].join('\n'));
    pendingHeads = [];
  }
  return out.join('\n\n');
}

export function blockText(el: XmlElement, dropTitle?: (t: string) => boolean): string {
  const ev: Event[] = [];
  renderBlocks(el, ev, dropTitle);
  return assemble(ev);
}

const isAbstractHeading = (t: string): boolean => /^abstract\s*[.:]?$/i.test(t);

/**
 * The article's abstract: its <abstract>s except editorial blurbs (EXCLUDED_ABSTRACT_TYPES), or the blurbs
 * when there is nothing else; "" when it has none. <trans-abstract> (translations) is left out.
 */
export function abstractText(meta: XmlElement): string {
  const all = childElements(meta, 'abstract');
  const isBlurb = (a: XmlElement): boolean =>
    EXCLUDED_ABSTRACT_TYPES.has((a.attrs['abstract-type'] ?? '').toLowerCase());
  const render = (list: XmlElement[]): string =>
    list
      .map((a) => blockText(a, isAbstractHeading))
      .filter((t) => t !== '')
      .join('\n\n');
  // When the blurbs are all there is, they are the abstract (e.g. a letter whose one abstract is a "teaser").
  return render(all.filter((a) => !isBlurb(a))) || render(all);
}

// ---------------------------------------------------------------------------------------------------------
// Metadata.

const PMC_ID_TYPES = ['pmc', 'pmcid', 'pmc-uid'];

export function pmcId(meta: XmlElement | undefined): string | undefined {
  if (meta === undefined) return undefined;
  const ids = childElements(meta, 'article-id');
  for (const type of PMC_ID_TYPES) {
    for (const id of ids) {
      if (id.attrs['pub-id-type'] !== type) continue;
      const m = /^(?:PMC)?(\d+)$/i.exec(normalizeSpace(rawText(id)));
      if (m !== null) return `PMC${m[1]}`;
    }
  }
  return undefined;
}

function personName(contrib: XmlElement): string {
  const alternatives = firstChild(contrib, 'name-alternatives');
  const names =
    alternatives !== undefined ? childElements(alternatives, 'name') : childElements(contrib, 'name');
  const name =
    names.find((n) => n.attrs['name-style'] !== 'eastern' && /^(en|$)/i.test(n.attrs['xml:lang'] ?? '')) ??
    names[0];
  const structured = name ?? firstChild(contrib, 'string-name');
  if (structured !== undefined) {
    const parts = ['given-names', 'surname', 'suffix']
      .map((n) => firstChild(structured, n))
      .map((e) => (e === undefined ? '' : flatten(e)))
      .filter((s) => s !== '');
    if (parts.length > 0) return parts.join(' ');
    return flatten(structured);
  }
  const collab = firstChild(contrib, 'collab');
  if (collab !== undefined) {
    return flatten({
      ...collab,
      children: collab.children.filter((c) => typeof c === 'string' || c.name !== 'contrib-group'),
    });
  }
  return '';
}

export function authors(meta: XmlElement): string[] {
  const out: string[] = [];
  for (const group of childElements(meta, 'contrib-group')) {
    for (const contrib of childElements(group, 'contrib')) {
      const type = contrib.attrs['contrib-type'];
      if (type !== undefined && type.toLowerCase() !== 'author') continue;
      const n = personName(contrib);
      if (n !== '') out.push(n);
    }
  }
  return out;
}

export function keywords(meta: XmlElement): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const group of childElements(meta, 'kwd-group')) {
    const lang = group.attrs['xml:lang'];
    if (lang !== undefined && !/^en\b/i.test(lang)) continue;
    for (const k of childElements(group)) {
      if (k.name !== 'kwd' && k.name !== 'compound-kwd') continue;
      const t = flatten(k);
      if (t !== '' && !seen.has(t)) {
        seen.add(t);
        out.push(t);
      }
    }
  }
  return out;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function monthNumber(s: string): number | undefined {
  const t = s.trim().toLowerCase();
  if (/^\d{1,2}$/.test(t)) return Number(t);
  const i = MONTHS.indexOf(t.slice(0, 3));
  return i >= 0 ? i + 1 : undefined;
}

/** Lower is better: electronic publication, then print, then the issue (collection), then anything else. */
function pubDateRank(d: XmlElement): number {
  const pubType = d.attrs['pub-type']?.toLowerCase();
  const dateType = d.attrs['date-type']?.toLowerCase();
  const format = d.attrs['publication-format']?.toLowerCase();
  if (pubType === 'epub' || (dateType === 'pub' && format === 'electronic')) return 0;
  if (pubType === 'ppub' || pubType === 'epub-ppub' || dateType === 'pub') return 1;
  if (pubType === 'collection' || dateType === 'collection') return 2;
  if (pubType === 'pmc-release' || pubType === 'epreprint' || dateType === 'update') return 4;
  return 3;
}

function dateOf(d: XmlElement): string | undefined {
  const iso = d.attrs['iso-8601-date'];
  if (iso !== undefined) {
    const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(iso);
    if (m !== null) {
      const r = isoDate(
        Number(m[1]),
        m[2] === undefined ? undefined : Number(m[2]),
        m[3] === undefined ? undefined : Number(m[3]),
      );
      if (r !== undefined) return r;
    }
  }
  const text = (name: string): string | undefined => {
    const e = firstChild(d, name);
    return e === undefined ? undefined : normalizeSpace(rawText(e));
  };
  const y = text('year');
  if (y === undefined || !/^\d{4}$/.test(y)) return undefined;
  const mo = text('month');
  const day = text('day');
  const month = mo === undefined ? undefined : monthNumber(mo);
  return isoDate(
    Number(y),
    month,
    month === undefined || day === undefined || !/^\d{1,2}$/.test(day) ? undefined : Number(day),
  );
}

export function pubDate(meta: XmlElement): string | undefined {
  const candidates = childElements(meta, 'pub-date')
    .map((d, i) => ({ rank: pubDateRank(d), i, date: dateOf(d) }))
    .filter((c): c is { rank: number; i: number; date: string } => c.date !== undefined)
    .sort((a, b) => a.rank - b.rank || a.i - b.i);
  return candidates[0]?.date;
}

// ---------------------------------------------------------------------------------------------------------

function skipWhileParsing(name: string): boolean {
  return SKIP_TREE.has(name);
}

function fileStemId(origin: string): string | undefined {
  const stem = basename(origin, extname(origin));
  return /^PMC\d+$/i.test(stem) ? `PMC${stem.slice(3)}` : undefined;
}

function articleToDoc(article: XmlElement, origin: string, allowFileName: boolean): SourceItem {
  const front = firstChild(article, 'front');
  const meta = front === undefined ? undefined : firstChild(front, 'article-meta');
  const docId = pmcId(meta) ?? (allowFileName ? fileStemId(origin) : undefined);
  if (docId === undefined) {
    return {
      ok: false,
      origin,
      reason:
        'no PMC id: no <article-id pub-id-type="pmc|pmcid|pmc-uid"> in <article-meta>' +
        (allowFileName ? ' and the file name is not PMC<digits>' : ''),
    };
  }
  const titleGroup = meta === undefined ? undefined : firstChild(meta, 'title-group');
  const titleEl = titleGroup === undefined ? undefined : firstChild(titleGroup, 'article-title');
  const body = firstChild(article, 'body');
  const doc: DocumentRecord = {
    docId,
    title: titleEl === undefined ? '' : flatten(titleEl, 'title'),
    abstract: meta === undefined ? '' : abstractText(meta),
    textContent: body === undefined ? '' : blockText(body),
    authors: meta === undefined ? [] : authors(meta),
    keywords: meta === undefined ? [] : keywords(meta),
    origin,
  };
  const date = meta === undefined ? undefined : pubDate(meta);
  if (date !== undefined) doc.pubDate = date;
  return { ok: true, doc };
}

/**
 * Parse one JATS file. Returns one item per article: a document, or the reason it could not be read
 * (not well-formed XML, not JATS, no PMC id). Never throws for bad content.
 */
export function parseJatsFile(content: string | Uint8Array, origin: string): SourceItem[] {
  // Whatever goes wrong with one file (bad bytes, bad XML, a parser or extraction error) is that file's failure.
  try {
    return parseJats(content, origin);
  } catch (e) {
    if (e instanceof EncodingError) return [encodingFailure(origin, e.message)];
    if (e instanceof XmlSyntaxError)
      return [{ ok: false, origin, reason: `not well-formed XML: ${e.message}` }];
    return [{ ok: false, origin, reason: `cannot parse: ${describeError(e)}` }];
  }
}

function parseJats(content: string | Uint8Array, origin: string): SourceItem[] {
  const xml = typeof content === 'string' ? content : decodeXml(content);
  const root = parseXml(xml, { skip: skipWhileParsing }).root;
  if (root.name === 'article') return [articleToDoc(root, origin, true)];
  const articles = childElements(root, 'article');
  if (articles.length === 0) {
    return [
      { ok: false, origin, reason: `not a JATS article: the root element is <${root.name}>, not <article>` },
    ];
  }
  if (articles.length === 1) return [articleToDoc(articles[0]!, origin, true)];
  return articles.map((a, i) => articleToDoc(a, `${origin}#${i + 1}`, false));
}
