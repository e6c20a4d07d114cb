/**
 * Which column of the source and token tables holds what: datastate's names for the values (docId, tokenIndex,
 * ...) mapped to the columns of the consumer's tables (spec.database.columns). Pure: the stores turn it into SQL.
 */
import { DEFAULT_COLUMNS } from '../api/schema.ts';

export type DocumentColumns = { -readonly [K in keyof typeof DEFAULT_COLUMNS.sourceDocuments]: string };
export type TokenColumns = { -readonly [K in keyof typeof DEFAULT_COLUMNS.tokenEmbeddings]: string };

export interface ColumnMap {
  /** The source table (SourceDocuments). */
  docs: DocumentColumns;
  /** The token table (DocumentTokenEmbeddings). */
  tokens: TokenColumns;
}

/** The keys of each table, in the order rows are bound (documentParams, tokenParams). */
export const DOCUMENT_FIELDS = Object.keys(DEFAULT_COLUMNS.sourceDocuments) as (keyof DocumentColumns)[];
export const TOKEN_FIELDS = Object.keys(DEFAULT_COLUMNS.tokenEmbeddings) as (keyof TokenColumns)[];

export interface ColumnOptions {
  sourceDocuments?: Partial<DocumentColumns>;
  tokenEmbeddings?: Partial<TokenColumns>;
}

/** The column map: the names given, the defaults for the rest. (Names are validated with the spec.) */
export function columnMap(given: ColumnOptions = {}): ColumnMap {
  return {
    docs: { ...DEFAULT_COLUMNS.sourceDocuments, ...defined(given.sourceDocuments) },
    tokens: { ...DEFAULT_COLUMNS.tokenEmbeddings, ...defined(given.tokenEmbeddings) },
  };
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** True when every column has its default name. */
export function isDefaultColumnMap(m: ColumnMap): boolean {
  const d = columnMap();
  return (
    DOCUMENT_FIELDS.every((k) => m.docs[k] === d.docs[k]) &&
    TOKEN_FIELDS.every((k) => m.tokens[k] === d.tokens[k])
  );
}
