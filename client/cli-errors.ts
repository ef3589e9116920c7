import { z } from 'zod';

/** A user mistake: printed as one line with a hint, never as a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Prints an error for a person and returns the process exit code. */
export function reportError(err: unknown): number {
  if (err instanceof UserError) {
    console.error(`error: ${err.message}`);
    if (err.hint) console.error(`hint: ${err.hint}`);
    return 2;
  }
  if (err instanceof z.ZodError) {
    console.error(`error: invalid options:\n${z.prettifyError(err)}`);
    return 2;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    console.error(`error: ${(err as Error).message}`);
    console.error('hint: another process uses that port; pick a free one with --port');
    return 2;
  }
  if (err instanceof Error && (err.name === 'ServiceError' || typeof (err as { code?: unknown }).code === 'number')) {
    // A gRPC answer from Temporal (namespace not found, permission denied, …): the message says it all.
    console.error(`error: the Temporal server refused: ${err.message.split('\n')[0]}`);
    console.error('hint: check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and your Temporal config profile');
    return 2;
  }
  // Not a user mistake: a bug to report, so the stack is worth showing.
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
}
