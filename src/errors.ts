// The project's one error type: every failure we detect (bad checkpoint, bad input,
// no adapter, GPU error) is a GPT2TapsError with a message that names the problem.
export class GPT2TapsError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
    this.name = 'GPT2TapsError';
  }
}
