import { createHash } from 'node:crypto';

/** sha256 (hex) of the text a document's embeddings are made from. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
