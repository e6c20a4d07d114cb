import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c as createTar, t as listTar } from 'tar';
import type { SourceItem } from '../../src/core/types.ts';
import { CorpusError, inferSourceType, openSource, type CorpusSource } from '../../src/corpus/index.ts';

const art = (id: string, abstract = `Abstract of ${id}.`): string =>
  `<?xml version="1.0"?><article><front><article-meta><article-id pub-id-type="pmcid">${id}</article-id>` +
  `<title-group><article-title>Title ${id}</article-title></title-group>` +
  (abstract ? `<abstract><p>${abstract}</p></abstract>` : '') +
  `</article-meta></front><body><p>Body ${id}.</p></body></article>`;

/** path inside the corpus -> content; the order here is deliberately not sorted. */
const FILES: [string, string][] = [
  ['z/PMC9.xml', art('PMC9')],
  ['README.md', '# not an article'],
  ['a/b/PMC3.nxml', art('PMC3', '')],
  ['a/progress.json', '{"phase":"downloading"}'],
  ['a/PMC2.xml', art('PMC2')],
  ['a/broken.xml', art('PMC4').slice(0, 120)],
  ['a/.hidden.xml', 'not even read'],
  ['.git/PMC5.xml', art('PMC5')],
  ['m/PMC1.XML', art('PMC1')],
  ['m/dup.xml', art('PMC2')],
];
const EXPECTED: [string, string | null][] = [
  // [origin, docId] in sorted order; null: reported as not ok
  ['a/PMC2.xml', 'PMC2'],
  ['a/b/PMC3.nxml', 'PMC3'],
  ['a/broken.xml', null],
  ['m/PMC1.XML', 'PMC1'],
  ['m/dup.xml', null],
  ['z/PMC9.xml', 'PMC9'],
];

async function collect(source: CorpusSource, signal?: AbortSignal): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of source.items(signal)) out.push(item);
  return out;
}

function summary(items: SourceItem[]): [string, string | null][] {
  return items.map((i) => (i.ok ? [i.doc.origin!, i.doc.docId] : [i.origin, null]));
}

let root: string;
let dir: string;
let tgz: string;
let tarPlain: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'datastate-corpus-'));
  dir = join(root, 'tree');
  for (const [p, content] of FILES) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  tgz = join(root, 'corpus.tar.gz');
  tarPlain = join(root, 'corpus.tar');
  // Archive order: the unsorted order of FILES (hidden ones included), so sorting is the source's job.
  const names = FILES.map(([p]) => p);
  await createTar({ gzip: true, file: tgz, cwd: dir, portable: true }, names);
  await createTar(
    { file: tarPlain, cwd: dir, portable: true },
    names.map((n) => `./${n}`),
  );
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('pmc-xml directory source', () => {
  it('yields articles sorted by path, reports bad files and goes on, skips non-XML and hidden files', async () => {
    const source = openSource({ path: dir });
    assert.equal(source.type, 'pmc-xml');
    assert.equal(source.synthetic, false);
    const items = await collect(source);
    assert.deepEqual(summary(items), EXPECTED);
    const broken = items[2] as { reason: string };
    assert.match(broken.reason, /^not well-formed XML/);
    assert.match(
      (items[4] as { reason: string }).reason,
      /duplicate doc_id PMC2: already read from a\/PMC2.xml/,
    );
    assert.deepEqual(source.stats, {
      files: 8,
      skipped: 2,
      documents: 4,
      withAbstract: 3,
      failed: 2,
      duplicates: 1,
      invalidEncoding: 0,
    });
  });

  it('follows symbolic links to files', async () => {
    const linked = join(root, 'linked');
    await mkdir(linked, { recursive: true });
    await symlink(join(dir, 'z', 'PMC9.xml'), join(linked, 'PMC9.xml'));
    assert.deepEqual(summary(await collect(openSource({ path: linked }))), [['PMC9.xml', 'PMC9']]);
  });

  it('reads a single XML file', async () => {
    assert.deepEqual(summary(await collect(openSource({ path: join(dir, 'z', 'PMC9.xml') }))), [
      ['PMC9.xml', 'PMC9'],
    ]);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    const source = openSource({ path: dir });
    const seen: SourceItem[] = [];
    await assert.rejects(async () => {
      for await (const item of source.items(ac.signal)) {
        seen.push(item);
        ac.abort();
      }
    }, /abort/i);
    assert.equal(seen.length, 1);
  });
});

describe('pmc-xml archive source', () => {
  it('yields the same items as the directory, in sorted order, from .tar.gz and .tar', async () => {
    for (const path of [tgz, tarPlain]) {
      const source = openSource({ path });
      assert.deepEqual(summary(await collect(source)), EXPECTED, path);
      assert.deepEqual(source.stats, {
        files: 8,
        skipped: 2,
        documents: 4,
        withAbstract: 3,
        failed: 2,
        duplicates: 1,
        invalidEncoding: 0,
      });
    }
  });

  it('gives the same sequence when the window forces one pass per file', async () => {
    const big = openSource({ path: tgz });
    const small = openSource({ path: tgz, windowBytes: 1 });
    const a = await collect(big);
    const b = await collect(small);
    assert.deepEqual(b, a);
  });

  it('gives the same sequence with windows of a few files', async () => {
    const a = await collect(openSource({ path: tgz }));
    for (const w of [200, 400, 700])
      assert.deepEqual(await collect(openSource({ path: tgz, windowBytes: w })), a, `window ${w}`);
  });

  it('lets the later of two entries with the same name win, as extraction does', async () => {
    const d2 = join(root, 'dup-entries');
    await mkdir(join(d2, 'x'), { recursive: true });
    await writeFile(join(d2, 'x', 'PMC7.xml'), art('PMC7', 'old'));
    const file = join(root, 'dup.tar');
    await createTar({ file, cwd: d2, portable: true }, ['x/PMC7.xml']);
    await writeFile(join(d2, 'x', 'PMC7.xml'), art('PMC7', 'new'));
    await createTar({ file: join(root, 'dup2.tar'), cwd: d2, portable: true }, ['x/PMC7.xml']);
    // Concatenate the two archives' entries: strip the end-of-archive blocks of the first.
    const a = await readFile(file);
    const b = await readFile(join(root, 'dup2.tar'));
    const entryBytes = (t: Buffer): Buffer =>
      t.subarray(0, 512 + Math.ceil(art('PMC7', 'old').length / 512) * 512);
    await writeFile(file, Buffer.concat([entryBytes(a), b]));
    const entries: string[] = [];
    await listTar({ file, onReadEntry: (e) => entries.push(e.path) });
    assert.deepEqual(entries, ['x/PMC7.xml', 'x/PMC7.xml']);
    const items = await collect(openSource({ path: file }));
    assert.equal(items.length, 1);
    assert.ok(items[0]!.ok);
    assert.equal(items[0]!.doc.abstract, 'new');
  });

  it('stops when aborted during a pass', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop: aborted by the test'));
    await assert.rejects(async () => {
      for await (const _ of openSource({ path: tgz }).items(ac.signal)) assert.fail('nothing is yielded');
    }, /aborted by the test/);
  });

  it('throws SOURCE_INVALID for a corrupt or truncated archive, before yielding anything', async () => {
    const gz = await readFile(tgz);
    const truncated = join(root, 'truncated.tar.gz');
    await writeFile(truncated, gz.subarray(0, Math.floor(gz.length / 2)));
    const garbage = join(root, 'garbage.tgz');
    await writeFile(garbage, Buffer.from('this is not an archive at all, not even close'.repeat(40)));
    for (const path of [truncated, garbage]) {
      const seen: SourceItem[] = [];
      await assert.rejects(
        async () => {
          for await (const item of openSource({ path }).items()) seen.push(item);
        },
        (e: unknown) => e instanceof CorpusError && e.code === 'SOURCE_INVALID' && e.message.includes(path),
      );
      assert.equal(seen.length, 0, path);
    }
  });
});

describe('openSource', () => {
  it('infers the type from the path', () => {
    assert.equal(inferSourceType('/x/corpus.tar.gz'), 'pmc-xml');
    assert.equal(inferSourceType('/x/corpus.TGZ'), 'pmc-xml');
    assert.equal(inferSourceType('/x/PMC1.nxml'), 'pmc-xml');
    assert.equal(inferSourceType('/x/docs.jsonl'), 'jsonl');
    assert.equal(inferSourceType('/x/docs.jsonl.gz'), 'jsonl');
    assert.equal(inferSourceType('/x/docs.ndjson'), 'jsonl');
    assert.equal(inferSourceType('/x/docs.csv'), undefined);
  });

  it('defaults to the synthetic corpus', () => {
    const s = openSource();
    assert.equal(s.type, 'synthetic');
    assert.equal(s.synthetic, true);
    assert.match(s.description, /synthetic/);
  });

  it('throws typed errors with clear messages', () => {
    const code = (spec: Parameters<typeof openSource>[0], want: string, message: RegExp): void => {
      assert.throws(
        () => openSource(spec),
        (e: unknown) => e instanceof CorpusError && e.code === want && message.test(e.message),
      );
    };
    code(
      { path: join(root, 'nope.tar.gz') },
      'SOURCE_NOT_FOUND',
      /source path does not exist: .*nope\.tar\.gz/,
    );
    code({ type: 'pmc-xml', path: join(root, 'nope') }, 'SOURCE_NOT_FOUND', /does not exist/);
    code({ type: 'pmc-xml' }, 'SOURCE_SPEC', /needs a path/);
    code({ type: 'synthetic', path: dir }, 'SOURCE_SPEC', /takes no path/);
    code({ type: 'jsonl', path: dir }, 'SOURCE_SPEC', /is a directory/);
    code({ path: join(dir, 'README.md') }, 'SOURCE_UNREADABLE', /cannot tell the source type/);
    code({ type: 'bogus' as never, path: dir }, 'SOURCE_SPEC', /unknown source type "bogus"/);
    code({ count: 0 }, 'SOURCE_SPEC', /count/);
    code({ path: tgz, windowBytes: -1 }, 'SOURCE_SPEC', /windowBytes/);
  });
});
