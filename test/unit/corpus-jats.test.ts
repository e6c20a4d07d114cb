import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DocumentRecord, SourceItem } from '../../src/core/types.ts';
import { parseJatsFile } from '../../src/corpus/jats.ts';

const DOCTYPE =
  '<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD with MathML3 v1.3 20210610//EN" "JATS-archivearticle1-3-mathml3.dtd">';

function article(meta: string, body = '', extra = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
${DOCTYPE}
<article xmlns:mml="http://www.w3.org/1998/Math/MathML" xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><journal-meta><journal-title-group><journal-title>J Test</journal-title></journal-title-group></journal-meta>
<article-meta>${meta}</article-meta></front>
${body ? `<body>${body}</body>` : ''}
<back><ref-list><ref id="r1"><mixed-citation>Should never appear.</mixed-citation></ref></ref-list></back>${extra}
</article>`;
}

function one(xml: string, origin = 'dir/file.xml'): SourceItem {
  const items = parseJatsFile(xml, origin);
  assert.equal(items.length, 1);
  return items[0]!;
}

function doc(xml: string, origin?: string): DocumentRecord {
  const item = one(xml, origin);
  assert.ok(item.ok, `expected a document, got ${JSON.stringify(item)}`);
  return item.doc;
}

const FULL = article(
  `<article-id pub-id-type="pmid">123</article-id>
   <article-id pub-id-type="pmcid">PMC1234567</article-id>
   <article-id pub-id-type="pmcid-ver">PMC1234567.1</article-id>
   <article-id pub-id-type="doi">10.1/x</article-id>
   <title-group><article-title>Role of <italic>TP53</italic> in CO<sub>2</sub>&#x02010;driven <bold>stress</bold><xref ref-type="fn" rid="fn1">*</xref>:<break/>a study</article-title></title-group>
   <contrib-group>
     <contrib contrib-type="author"><name><surname>Curie</surname><given-names>Marie</given-names></name><aff>Paris</aff></contrib>
     <contrib contrib-type="author"><name-alternatives><name name-style="eastern" xml:lang="zh"><surname>王</surname><given-names>伟</given-names></name><name name-style="western"><surname>Wang</surname><given-names>Wei</given-names></name></name-alternatives></contrib>
     <contrib contrib-type="author"><name><surname>King</surname><given-names>Martin L.</given-names><suffix>Jr</suffix></name></contrib>
     <contrib contrib-type="author"><collab>The Study Group<contrib-group><contrib><name><surname>Member</surname><given-names>A</given-names></name></contrib></contrib-group></collab></contrib>
     <contrib contrib-type="editor"><name><surname>Editor</surname><given-names>Ed</given-names></name></contrib>
   </contrib-group>
   <pub-date pub-type="collection"><year>2019</year></pub-date>
   <pub-date pub-type="ppub"><month>Mar</month><year>2019</year></pub-date>
   <pub-date pub-type="epub"><day>7</day><month>2</month><year>2019</year></pub-date>
   <abstract><title>Abstract</title>
     <sec><title>Background</title><p>Tumour &amp; stroma &lt;interact&gt; in &#8220;vivo&#8221;&nbsp;and&mdash;here.</p></sec>
     <sec><title>Methods</title><p>We measured <inline-formula><mml:math><mml:mi>p</mml:mi><mml:mo>&lt;</mml:mo><mml:mn>0.05</mml:mn></mml:math></inline-formula> in
        <list list-type="bullet"><list-item><p>mice</p></list-item><list-item><p>rats</p></list-item></list> samples.</p>
        <p>Second   paragraph
        spans lines.</p></sec>
     <sec><title>Results</title><p><![CDATA[Raw <text> & more]]> was found<sup><xref ref-type="bibr" rid="r1">1</xref>&#8211;<xref ref-type="bibr" rid="r2">3</xref></sup>, volume 5 mm<sup>3</sup>.</p></sec>
   </abstract>
   <abstract abstract-type="graphical"><p>Graphical abstract text is left out.</p></abstract>
   <abstract abstract-type="summary"><title>Author Summary</title><p>Plain words for everyone.</p></abstract>
   <trans-abstract xml:lang="de"><p>Deutsche Zusammenfassung.</p></trans-abstract>
   <kwd-group><kwd>p53</kwd><kwd><italic>In vivo</italic> imaging</kwd><kwd>p53</kwd></kwd-group>
   <kwd-group xml:lang="fr"><kwd>souris</kwd></kwd-group>
   <kwd-group kwd-group-type="MeSH"><compound-kwd><compound-kwd-part>Neoplasms</compound-kwd-part><compound-kwd-part>genetics</compound-kwd-part></compound-kwd></kwd-group>`,
  `<sec><label>1.</label><title>Introduction</title><p>First <xref ref-type="bibr" rid="r1">[1]</xref> paragraph.</p>
     <fig id="f1"><label>Figure 1</label><caption><p>Figure caption left out.</p></caption><graphic xlink:href="f1.jpg"/></fig>
     <p>Formula <disp-formula><alternatives><tex-math>\\documentclass[12pt]{minimal}\\usepackage{amsmath}\\begin{document}$$E=mc^2$$\\end{document}</tex-math><mml:math><mml:mi>E</mml:mi><mml:mo>=</mml:mo><mml:mi>m</mml:mi><mml:msup><mml:mi>c</mml:mi><mml:mn>2</mml:mn></mml:msup></mml:math><graphic xlink:href="e1.gif"/></alternatives></disp-formula> holds.</p>
     <table-wrap id="t1"><caption><p>Table caption left out.</p></caption><table><tr><td>cell left out</td></tr></table></table-wrap>
   </sec>
   <sec><title>Methods</title>
     <sec><title>Cohort</title><p>We enrolled <inline-formula><tex-math>\\begin{document}$n=12$\\end{document}</tex-math></inline-formula> adults.</p></sec>
   </sec>
   <sec sec-type="supplementary-material"><title>Supplementary Material</title><supplementary-material><media xlink:href="s1.pdf"/></supplementary-material></sec>`,
  '<sub-article><front-stub><abstract><p>Sub-article abstract left out.</p></abstract></front-stub><body><p>Decision letter left out.</p></body></sub-article>',
);

describe('parseJatsFile: a full article', () => {
  const d = doc(FULL);

  it('takes the PMCID as doc id', () => {
    assert.equal(d.docId, 'PMC1234567');
    assert.equal(d.origin, 'dir/file.xml');
  });

  it('flattens inline markup in the title and drops footnote markers', () => {
    assert.equal(d.title, 'Role of TP53 in CO2‐driven stress: a study');
  });

  it('joins abstract sections with their titles, blank lines between sections', () => {
    assert.equal(
      d.abstract,
      [
        'Background\nTumour & stroma <interact> in “vivo” and—here.',
        'Methods\nWe measured p<0.05 in mice rats samples.\nSecond paragraph spans lines.',
        'Results\nRaw <text> & more was found, volume 5 mm3.',
        'Author Summary\nPlain words for everyone.',
      ].join('\n\n'),
    );
  });

  it('leaves out graphical abstracts, translations and sub-articles', () => {
    assert.doesNotMatch(d.abstract, /Graphical|Deutsche|Sub-article/);
    assert.doesNotMatch(d.textContent, /Decision letter|Should never appear/);
  });

  it('reads authors as "Given Surname", not editors or collab members', () => {
    assert.deepEqual(d.authors, ['Marie Curie', 'Wei Wang', 'Martin L. King Jr', 'The Study Group']);
  });

  it('reads English keywords once each, compound keywords as one', () => {
    assert.deepEqual(d.keywords, ['p53', 'In vivo imaging', 'Neoplasms genetics']);
  });

  it('prefers the electronic publication date', () => {
    assert.equal(d.pubDate, '2019-02-07');
  });

  it('reads body sections and paragraphs, without figures, tables or empty sections', () => {
    assert.equal(
      d.textContent,
      [
        '1. Introduction\nFirst [1] paragraph.\nFormula E=mc2 holds.',
        'Methods\nCohort\nWe enrolled n=12 adults.',
      ].join('\n\n'),
    );
  });
});

describe('parseJatsFile: ids, dates and missing parts', () => {
  it('accepts pub-id-type="pmc" with or without the PMC prefix, and pmc-uid', () => {
    assert.equal(doc(article('<article-id pub-id-type="pmc">2011213</article-id>')).docId, 'PMC2011213');
    assert.equal(doc(article('<article-id pub-id-type="pmc">PMC99</article-id>')).docId, 'PMC99');
    assert.equal(doc(article('<article-id pub-id-type="pmc-uid">4242</article-id>')).docId, 'PMC4242');
  });

  it('falls back to a PMC<digits> file name, else reports the file', () => {
    assert.equal(
      doc(article('<article-id pub-id-type="doi">10.1/y</article-id>'), 'a/pmc777.nxml').docId,
      'PMC777',
    );
    const bad = one(article('<article-id pub-id-type="doi">10.1/y</article-id>'), 'a/paper.xml');
    assert.equal(bad.ok, false);
    assert.match((bad as { reason: string }).reason, /no PMC id/);
  });

  it('loads an article without an abstract with abstract ""', () => {
    const d = doc(
      article(
        '<article-id pub-id-type="pmc">1</article-id><title-group><article-title>Letter</article-title></title-group>',
      ),
    );
    assert.equal(d.abstract, '');
    assert.equal(d.title, 'Letter');
    assert.equal(d.textContent, '');
    assert.deepEqual(d.authors, []);
    assert.equal(d.pubDate, undefined);
  });

  it('uses a teaser when it is the only abstract', () => {
    const d = doc(
      article(
        '<article-id pub-id-type="pmc">1</article-id><abstract abstract-type="teaser"><p>Only this.</p></abstract>',
      ),
    );
    assert.equal(d.abstract, 'Only this.');
  });

  it('reads iso-8601-date, textual months, and leaves out what is invalid', () => {
    const date = (x: string): string | undefined =>
      doc(article(`<article-id pub-id-type="pmc">1</article-id>${x}`)).pubDate;
    assert.equal(
      date('<pub-date pub-type="epub" iso-8601-date="2025-09-26T10:00"><year>2025</year></pub-date>'),
      '2025-09-26',
    );
    assert.equal(
      date(
        '<pub-date date-type="pub" publication-format="electronic"><day>3</day><month>September</month><year>2025</year></pub-date>',
      ),
      '2025-09-03',
    );
    assert.equal(
      date('<pub-date pub-type="ppub"><season>Spring</season><year>2001</year></pub-date>'),
      '2001',
    );
    assert.equal(
      date('<pub-date pub-type="epub"><day>31</day><month>2</month><year>2020</year></pub-date>'),
      '2020-02',
    );
    assert.equal(
      date(
        '<pub-date pub-type="epub"/><pub-date pub-type="collection"><month>12</month><year>1982</year></pub-date>',
      ),
      '1982-12',
    );
  });

  it('reads several articles of a <pmc-articleset>, each with its own origin', () => {
    const a = (id: string): string =>
      `<article><front><article-meta><article-id pub-id-type="pmc">${id}</article-id></article-meta></front></article>`;
    const items = parseJatsFile(`<pmc-articleset>${a('1')}${a('2')}</pmc-articleset>`, 'set.xml');
    assert.deepEqual(
      items.map((i) => (i.ok ? [i.doc.docId, i.doc.origin] : i.reason)),
      [
        ['PMC1', 'set.xml#1'],
        ['PMC2', 'set.xml#2'],
      ],
    );
  });

  it('decodes the encoding the XML declaration names', () => {
    const xml = `<?xml version="1.0" encoding="ISO-8859-1"?><article><front><article-meta><article-id pub-id-type="pmc">5</article-id><title-group><article-title>Caf\u00e9 na\u00efve</article-title></title-group></article-meta></front></article>`;
    assert.equal(doc(xml).title, 'Café naïve');
    assert.equal(
      (parseJatsFile(Buffer.from(xml, 'latin1'), 'x.xml')[0] as { doc: DocumentRecord }).doc.title,
      'Café naïve',
    );
  });

  it('keeps an entity no table knows as written, instead of failing the file', () => {
    const d = doc(
      article(
        '<article-id pub-id-type="pmc">1</article-id><title-group><article-title>A &unknownent; B</article-title></title-group>',
      ),
    );
    assert.equal(d.title, 'A &unknownent; B');
  });
});

describe('parseJatsFile: malformed files are reported, not thrown', () => {
  const reason = (content: string | Uint8Array): string => {
    const item = one(
      typeof content === 'string' ? content : Buffer.from(content).toString('latin1'),
      'x/bad.xml',
    );
    assert.equal(item.ok, false);
    assert.equal((item as { origin: string }).origin, 'x/bad.xml');
    return (item as { reason: string }).reason;
  };

  it('a truncated file', () => {
    assert.match(reason(FULL.slice(0, 2000)), /^not well-formed XML: \d+:\d+: /);
  });

  it('mismatched tags', () => {
    assert.match(reason('<article><front></article>'), /not well-formed XML/);
  });

  it('not XML at all', () => {
    assert.match(reason('{"json": true}'), /not well-formed XML/);
    assert.match(reason(''), /not well-formed XML/);
  });

  it('XML that is not a JATS article', () => {
    assert.match(reason('<html><body>Error 503</body></html>'), /root element is <html>/);
  });
});
