/**
 * A user mistake (a bad setting, a missing file): printed as one line with a hint, never as a stack trace. Here, not
 * in client/, because the worker's settings raise it too and lower layers never import the CLI.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
