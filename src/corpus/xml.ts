/**
 * A strict XML reader (saxes) that builds a small element tree, leaving out the subtrees the caller does
 * not need. Well-formedness errors throw XmlSyntaxError with line and column; an entity that the document's
 * external DTD would define (e.g. &nbsp; in publisher JATS) is resolved from a table of common HTML/ISO
 * entities, and an unknown one is kept as written and counted (a non-validating parser may not reject it).
 */
import { SaxesParser } from 'saxes';

export interface XmlElement {
  /** The qualified name as written, e.g. "article-title" or "mml:math". */
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class XmlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlSyntaxError';
  }
}

export interface ParseOptions {
  /** Return true to leave an element and everything inside it out of the tree (it is still checked). */
  skip?: (name: string, parent: XmlElement) => boolean;
}

export interface ParsedXml {
  root: XmlElement;
  /** References to entities that are neither XML's nor in our table (kept as written). */
  unknownEntities: number;
}

// Named entities that JATS/ISO/HTML DTDs define and publishers use. Name and code point.
const NAMED = `nbsp a0 iexcl a1 cent a2 pound a3 curren a4 yen a5 brvbar a6 sect a7 uml a8 copy a9 ordf aa laquo ab
not ac shy ad reg ae macr af deg b0 plusmn b1 sup2 b2 sup3 b3 acute b4 micro b5 para b6 middot b7 cedil b8 sup1 b9
ordm ba raquo bb frac14 bc frac12 bd frac34 be iquest bf Agrave c0 Aacute c1 Acirc c2 Atilde c3 Auml c4 Aring c5
AElig c6 Ccedil c7 Egrave c8 Eacute c9 Ecirc ca Euml cb Igrave cc Iacute cd Icirc ce Iuml cf ETH d0 Ntilde d1
Ograve d2 Oacute d3 Ocirc d4 Otilde d5 Ouml d6 times d7 Oslash d8 Ugrave d9 Uacute da Ucirc db Uuml dc Yacute dd
THORN de szlig df agrave e0 aacute e1 acirc e2 atilde e3 auml e4 aring e5 aelig e6 ccedil e7 egrave e8 eacute e9
ecirc ea euml eb igrave ec iacute ed icirc ee iuml ef eth f0 ntilde f1 ograve f2 oacute f3 ocirc f4 otilde f5
ouml f6 divide f7 oslash f8 ugrave f9 uacute fa ucirc fb uuml fc yacute fd thorn fe yuml ff OElig 152 oelig 153
Scaron 160 scaron 161 Yuml 178 fnof 192 circ 2c6 tilde 2dc Alpha 391 Beta 392 Gamma 393 Delta 394 Epsilon 395
Zeta 396 Eta 397 Theta 398 Iota 399 Kappa 39a Lambda 39b Mu 39c Nu 39d Xi 39e Omicron 39f Pi 3a0 Rho 3a1
Sigma 3a3 Tau 3a4 Upsilon 3a5 Phi 3a6 Chi 3a7 Psi 3a8 Omega 3a9 alpha 3b1 beta 3b2 gamma 3b3 delta 3b4
epsilon 3b5 zeta 3b6 eta 3b7 theta 3b8 iota 3b9 kappa 3ba lambda 3bb mu 3bc nu 3bd xi 3be omicron 3bf pi 3c0
rho 3c1 sigmaf 3c2 sigma 3c3 tau 3c4 upsilon 3c5 phi 3c6 chi 3c7 psi 3c8 omega 3c9 thetasym 3d1 ensp 2002
emsp 2003 thinsp 2009 zwnj 200c zwj 200d ndash 2013 mdash 2014 lsquo 2018 rsquo 2019 sbquo 201a ldquo 201c
rdquo 201d bdquo 201e dagger 2020 Dagger 2021 bull 2022 hellip 2026 permil 2030 prime 2032 Prime 2033
lsaquo 2039 rsaquo 203a euro 20ac trade 2122 larr 2190 uarr 2191 rarr 2192 darr 2193 harr 2194 rArr 21d2
hArr 21d4 forall 2200 part 2202 exist 2203 empty 2205 nabla 2207 isin 2208 notin 2209 sum 2211 minus 2212
lowast 2217 radic 221a prop 221d infin 221e ang 2220 and 2227 or 2228 cap 2229 cup 222a int 222b there4 2234
sim 223c cong 2245 asymp 2248 ne 2260 equiv 2261 le 2264 ge 2265 sub 2282 sup 2283 sube 2286 supe 2287
oplus 2295 otimes 2297 perp 22a5 sdot 22c5 lang 2329 rang 232a loz 25ca spades 2660 clubs 2663 hearts 2665
diams 2666 les 2a7d ges 2a7e thickapprox 2248 lsqb 5b rsqb 5d lcub 7b rcub 7d verbar 7c
half bd dash 2010 hyphen 2010 horbar 2015 Vert 2016 ohm 3a9 angst c5`;

const ENTITY_TABLE: Record<string, string> = (() => {
  const out: Record<string, string> = {};
  const parts = NAMED.split(/\s+/);
  for (let i = 0; i + 1 < parts.length; i += 2)
    out[parts[i]!] = String.fromCodePoint(parseInt(parts[i + 1]!, 16));
  return out;
})();

/** Parse a whole XML document held in memory. Throws XmlSyntaxError when it is not well-formed. */
export function parseXml(xml: string, options: ParseOptions = {}): ParsedXml {
  const skip = options.skip;
  const parser = new SaxesParser({ xmlns: false, position: true });
  Object.assign(parser.ENTITIES, ENTITY_TABLE);
  let unknownEntities = 0;
  const top: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack: XmlElement[] = [top];
  let cur = top;
  let skipping = 0;

  parser.on('error', (err: Error) => {
    if (err.message.endsWith('undefined entity.')) {
      unknownEntities++;
      return;
    }
    throw new XmlSyntaxError(err.message);
  });
  parser.on('opentag', (tag) => {
    if (skipping > 0) {
      if (!tag.isSelfClosing) skipping++;
      return;
    }
    if (skip !== undefined && skip(tag.name, cur)) {
      if (!tag.isSelfClosing) skipping = 1;
      return;
    }
    const el: XmlElement = { name: tag.name, attrs: tag.attributes as Record<string, string>, children: [] };
    cur.children.push(el);
    if (!tag.isSelfClosing) {
      stack.push(el);
      cur = el;
    }
  });
  parser.on('closetag', (tag) => {
    if (tag.isSelfClosing) return;
    if (skipping > 0) {
      skipping--;
      return;
    }
    stack.pop();
    cur = stack[stack.length - 1]!;
  });
  const onText = (text: string): void => {
    if (skipping > 0 || stack.length === 1) return; // text outside the root is whitespace (saxes checks)
    const kids = cur.children;
    const last = kids[kids.length - 1];
    if (typeof last === 'string') kids[kids.length - 1] = last + text;
    else kids.push(text);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw e;
    throw new XmlSyntaxError(e instanceof Error ? e.message : String(e));
  }
  const root = top.children.find((c): c is XmlElement => typeof c !== 'string');
  if (root === undefined) throw new XmlSyntaxError('document must contain a root element.');
  return { root, unknownEntities };
}

/** The local part of a qualified name ("mml:math" -> "math"). */
export function localName(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(i + 1);
}

/** Direct child elements, optionally only those with the given name. */
export function childElements(el: XmlElement, name?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children)
    if (typeof c !== 'string' && (name === undefined || c.name === name)) out.push(c);
  return out;
}

export function firstChild(el: XmlElement, name: string): XmlElement | undefined {
  for (const c of el.children) if (typeof c !== 'string' && c.name === name) return c;
  return undefined;
}

/** All descendants with the given name, in document order, not descending into a match or into `stopAt`. */
export function findAll(el: XmlElement, name: string, stopAt: ReadonlySet<string> = new Set()): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (typeof c === 'string') continue;
      if (c.name === name) out.push(c);
      else if (!stopAt.has(c.name)) walk(c);
    }
  };
  walk(el);
  return out;
}

/** Concatenated character data of an element and its descendants, as written (no separators added). */
export function rawText(el: XmlElement): string {
  let s = '';
  for (const c of el.children) s += typeof c === 'string' ? c : rawText(c);
  return s;
}
