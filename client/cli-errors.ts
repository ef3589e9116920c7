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
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
}
