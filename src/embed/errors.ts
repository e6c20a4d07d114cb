/** Errors of the embedding adapter. All carry a message a user can act on. */

export class EmbedderError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EmbedderError';
  }
}

/** A model directory, model file, tokenizer or config that cannot be read or is corrupt. Names the file. */
export class ModelLoadError extends EmbedderError {
  readonly file: string;
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super(`${file}: ${problem}`, options);
    this.name = 'ModelLoadError';
    this.file = file;
  }
}

/**
 * The model's output dimension differs from the declared one. Thrown by loadEmbedder, i.e. before anything is
 * embedded or written.
 */
export class DimensionMismatchError extends EmbedderError {
  readonly declared: number;
  readonly actual: number;
  readonly modelDir: string;
  constructor(modelDir: string, declared: number, actual: number) {
    super(
      `embedding dimension mismatch: the model in ${modelDir} produces ${actual}-dimensional vectors but ` +
        `${declared} is declared. Either set spec.embedding.dimension to ${actual} (the token table's vector ` +
        `column must then be ${actual} wide too; the schema check names the DDL), or point ` +
        `spec.embedding.modelPath at a model whose output has ${declared} dimensions. Nothing was written.`,
    );
    this.name = 'DimensionMismatchError';
    this.declared = declared;
    this.actual = actual;
    this.modelDir = modelDir;
  }
}

/** Invalid loadEmbedder options (e.g. stride larger than the window). */
export class EmbedderOptionsError extends EmbedderError {
  constructor(message: string) {
    super(message);
    this.name = 'EmbedderOptionsError';
  }
}
