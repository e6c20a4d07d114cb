/**
 * Abstracts of the PMC corpus for the embedding benchmarks: through the project's corpus loader
 * (src/corpus/index.ts, openSource) when it exists, otherwise with a small regex extractor over the JATS XML
 * inside the .tar.gz (good enough for timing: tags stripped, entities decoded, whitespace collapsed).
 * Documents come in file-path order; those without an abstract are left out.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { DocumentSource } from '../src/core/ports.ts';

export const DEFAULT_CORPUS = '/work/shared/corpus/pmc-oa-1536.tar.gz';

export interface BenchDoc {
  docId: string;
  text: string;
}

const EXCLUDED = /abstract-type\s*=\s*"(graphical|teaser|toc|web-summary)"/;

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The abstract text of one JATS article ("" when none), by regex. */
export function regexAbstract(xml: string): string {
  const parts: string[] = [];
  for (const m of xml.matchAll(/<abstract\b([^>]*)>([\s\S]*?)<\/abstract>/g)) {
    if (EXCLUDED.test(m[1] ?? '')) continue;
    const text = decodeEntities((m[2] ?? '').replace(/<[^>]+>/g, ' '))
      .replace(/\s+/g, ' ')
      .trim();
    if (text) parts.push(text);
  }
  return parts.join('\n\n');
}

/** Regular files of a tar archive (ustar/pax names), in archive order. */
function* tarFiles(tar: Buffer): Generator<{ name: string; data: Buffer }> {
  let off = 0;
  let longName: string | null = null;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) return;
    const field = (a: number, b: number): string => header.toString('utf8', a, b).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 48);
    const prefix = field(345, 500);
    let name = (prefix ? `${prefix}/` : '') + field(0, 100);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      if (m) longName = m[1]!;
      continue;
    }
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (longName !== null) {
      name = longName;
      longName = null;
    }
    if (type === '0' || type === '\0') yield { name, data };
  }
}

async function viaRegex(path: string): Promise<BenchDoc[]> {
  const tar = gunzipSync(await readFile(path));
  const files = [...tarFiles(tar)]
    .filter((f) => /\.(n?xml)$/.test(f.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  const docs: BenchDoc[] = [];
  for (const f of files) {
    const docId = /([^/]+)\.n?xml$/.exec(f.name)![1]!;
    if (seen.has(docId)) continue;
    seen.add(docId);
    const text = regexAbstract(f.data.toString('utf8'));
    if (text) docs.push({ docId, text });
  }
  return docs;
}

async function viaLoader(path: string): Promise<BenchDoc[] | null> {
  const url = new URL('../src/corpus/index.ts', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return null;
  const mod = (await import(url.href)) as {
    openSource?: (o: { type: string; path: string }) => DocumentSource;
  };
  if (typeof mod.openSource !== 'function') return null;
  const docs: BenchDoc[] = [];
  for await (const item of mod.openSource({ type: 'pmc-xml', path }).items()) {
    if (item.ok && item.doc.abstract.trim() !== '')
      docs.push({ docId: item.doc.docId, text: item.doc.abstract });
  }
  return docs;
}

/** Abstracts of the corpus, and which reader produced them. */
export async function loadAbstracts(path: string): Promise<{ docs: BenchDoc[]; reader: string }> {
  const loaded = await viaLoader(path);
  if (loaded !== null) return { docs: loaded, reader: 'src/corpus (openSource pmc-xml)' };
  return { docs: await viaRegex(path), reader: 'bench regex extractor (src/corpus/index.ts not present)' };
}
