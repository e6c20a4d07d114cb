/**
 * Column maps (spec.database.columns) the column-mapping tests share: the original project's ColBERT token table,
 * and one that renames every column (doc ids too, some in mixed case) so each statement is seen to use the map.
 */
export const COLBERT_COLUMNS = {
  tokenEmbeddings: { tokenIndex: 'tok_pos', tokenText: 'tok_text', embedding: 'tok_vec' },
};

export const ALL_RENAMED = {
  sourceDocuments: {
    docId: 'pmcid',
    title: 'doc_title',
    abstract: 'summary',
    authors: 'author_list',
    keywords: 'kw',
    pubDate: 'published',
    origin: 'src',
    contentHash: 'summary_sha',
    loadedAt: 'loaded',
    textContent: 'body',
  },
  tokenEmbeddings: { docId: 'DocRef', tokenIndex: 'pos', tokenText: 'piece', embedding: 'vec' },
};
