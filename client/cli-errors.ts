import { z } from 'zod';
import { commandName } from './command-name.js';

import { UserError } from '../shared/user-error.js';

export { UserError };

/** The flags that choose a port, by command: a busy-port hint names only flags the command has. */
const PORT_FLAGS: Record<string, string> = {
  emulator: 'choose another with --port (0 = any free port)',
  dev: 'choose others with --temporal-port, --ui-port and --emulator-port',
};

/** gRPC status codes Temporal answers with (grpc-js `status`; not imported: the CLI starts without grpc-js). */
export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const GRPC_NAMES = Object.fromEntries(Object.entries(GRPC).map(([name, code]) => [code, name]));

export interface GrpcAnswer {
  code: number;
  /** The server's own words (the SDK's ServiceError message is only "Failed to list workflows" and the like). */
  details: string;
}

/** The gRPC status in `err` or its causes: the SDK wraps it in a ServiceError, or rethrows it bare. */
export function grpcAnswer(err: unknown): GrpcAnswer | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    // grpc-js errors carry a numeric code and the server's text in `details` (Node's own errors have string codes).
    const { code, details } = e as { code?: unknown; details?: unknown };
    if (typeof code === 'number' && typeof details === 'string')
      return { code, details: details || firstLine(e.message) };
  }
  return null;
}

const firstLine = (s: string) => s.split('\n')[0] ?? s;

/** What to say about a Temporal answer: the server's text, and a hint that fits its code. */
function temporalRefusal(err: Error, answer: GrpcAnswer | null): { message: string; hint: string } {
  const cmd = commandName();
  const { namespace } = err as Error & { namespace?: unknown }; // NamespaceNotFoundError's
  if (err.name === 'NamespaceNotFoundError' || (answer?.code === GRPC.NOT_FOUND && /namespace/i.test(answer.details)))
    return {
      message:
        typeof namespace === 'string'
          ? `the Temporal server has no namespace '${namespace}'`
          : `the Temporal server has no such namespace: ${answer?.details ?? err.message}`,
      hint: 'set TEMPORAL_NAMESPACE (or the namespace of your Temporal config profile) to one that exists; `temporal operator namespace list` shows them',
    };
  if (!answer)
    return {
      message: `the Temporal server refused: ${firstLine(err.message)}`,
      hint: `\`${cmd} doctor\` checks the Temporal connection and namespace`,
    };
  const { code, details } = answer;
  switch (code) {
    case GRPC.INVALID_ARGUMENT:
      // The server was reached and read the request: a value in it is wrong, not the connection.
      return {
        message: `the Temporal server refused the request: ${details}`,
        hint: 'a value passed to this command is not valid for the server (its reason is above)',
      };
    case GRPC.UNAVAILABLE:
      return {
        message: `the Temporal server is unavailable: ${details}`,
        hint: `is it running? start one with \`${cmd} dev\`, or check TEMPORAL_ADDRESS (or your Temporal config profile)`,
      };
    case GRPC.DEADLINE_EXCEEDED:
      return {
        message: `the Temporal server did not answer in time: ${details}`,
        hint: `check that TEMPORAL_ADDRESS points at a running server; \`${cmd} doctor\` checks it`,
      };
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
      return {
        message: `the Temporal server refused the credentials (${GRPC_NAMES[code]}): ${details}`,
        hint: 'check TEMPORAL_API_KEY or the TLS client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH) of your Temporal config profile, and that they may use TEMPORAL_NAMESPACE',
      };
    case GRPC.RESOURCE_EXHAUSTED:
      return {
        message: `the Temporal server is rate-limiting: ${details}`,
        hint: 'try again in a moment',
      };
    default:
      return {
        message: `the Temporal server refused (gRPC ${GRPC_NAMES[code] ?? `code ${code}`}): ${details}`,
        hint: `\`${cmd} doctor\` checks the Temporal connection and namespace`,
      };
  }
}

/** A write to a closed pipe (`… | head`): the reader has what it wanted. */
export function isClosedPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/**
 * Prints an error for a person and returns the process exit code. `command` is the subcommand that ran, for hints
 * that name its flags.
 */
export function reportError(err: unknown, command?: string): number {
  if (isClosedPipe(err)) return 0;
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
    const fix = (command && PORT_FLAGS[command]) ?? 'stop it, or free the port';
    console.error(`hint: another process uses that port; ${fix}`);
    return 2;
  }
  const answer = grpcAnswer(err);
  if (err instanceof Error && (err.name === 'ServiceError' || err.name === 'NamespaceNotFoundError' || answer)) {
    const { message, hint } = temporalRefusal(err, answer);
    console.error(`error: ${message}`);
    console.error(`hint: ${hint}`);
    return 2;
  }
  // The SDK's converter meets a payload of encrypting workers (worker/payload-codec.ts) and this CLI has no codec.
  if (err instanceof Error && err.message.includes('Unknown encoding: binary/encrypted')) {
    console.error("error: the job's data in Temporal is encrypted, and this command has no key to read it");
    console.error("hint: set CLAUDE_BATCH_CODEC_KEYS here to the workers' value");
    return 2;
  }
  // Not a user mistake: a bug to report, so the stack is worth showing.
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 1;
}
