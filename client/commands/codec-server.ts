import { Command } from 'commander';
import { startCodecServer } from '../../worker/codec-server.js';
import { CODEC_KEYS_ENV, codecFromEnv } from '../../worker/payload-codec.js';
import { UserError } from '../cli-errors.js';
import { port } from '../parse-options.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function codecServerCommand(): Command {
  return new Command('codec-server')
    .description(
      `Serve Temporal's remote codec protocol (POST /encode, /decode) so the web UI and \`temporal --codec-endpoint\` show encrypted payloads decrypted. Settings from the environment: ${CODEC_KEYS_ENV}, CLAUDE_BATCH_CODEC_AUTH (the bearer token callers must send), CLAUDE_BATCH_CODEC_CORS_ORIGINS (comma-separated UI origins)`,
    )
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', port, 8888)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--insecure-no-auth', 'serve without CLAUDE_BATCH_CODEC_AUTH (loopback hosts only)')
    .action(async (o: { port: number; host: string; insecureNoAuth?: boolean }) => {
      let codec;
      try {
        codec = codecFromEnv();
      } catch (err) {
        throw new UserError((err as Error).message, `${CODEC_KEYS_ENV}=<id>:<base64 of 32 random bytes>,…`);
      }
      if (!codec)
        throw new UserError(
          `${CODEC_KEYS_ENV} is not set: the codec server needs the keys the workers encrypt with`,
          `give it the workers' ${CODEC_KEYS_ENV}`,
        );
      const authToken = process.env.CLAUDE_BATCH_CODEC_AUTH || null;
      // Anyone who reaches an open codec server can decrypt every payload: never without a token off this host.
      if (!authToken && !(o.insecureNoAuth && LOOPBACK.has(o.host)))
        throw new UserError(
          'CLAUDE_BATCH_CODEC_AUTH is not set: the codec server decrypts for whoever calls it',
          'set CLAUDE_BATCH_CODEC_AUTH to a long random token (callers send `Authorization: Bearer <token>`), or on a loopback host pass --insecure-no-auth',
        );
      const corsOrigins = (process.env.CLAUDE_BATCH_CODEC_CORS_ORIGINS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const server = await startCodecServer({ codec, authToken, corsOrigins, host: o.host, port: o.port });
      console.log(`claude-batch codec server listening on ${server.url} (keys ${codec.keyIds.join(', ')})`);
      console.log(`  temporal workflow show --codec-endpoint ${server.url} --codec-auth 'Bearer …' -w <job>`);
      if (corsOrigins.length) console.log(`  web UI origins allowed: ${corsOrigins.join(', ')}`);
      const stop = () => void server.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
