import path from 'node:path';

/**
 * How the user started this CLI, for hints that say a command to run next: `npx claude-batch` (as the README
 * shows), `claude-batch` (the installed bin), or `node dist/client/cli.js` (a checkout). `CLAUDE_BATCH_COMMAND`
 * overrides it (tests, wrappers).
 */
export function commandName(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv): string {
  const override = env.CLAUDE_BATCH_COMMAND?.trim();
  if (override) return override;
  const script = argv[1];
  if (!script) return 'claude-batch';
  // A bin link (`node_modules/.bin/claude-batch`, a global bin) keeps its own name in argv[1]; on Windows the
  // bin shim runs `node …/node_modules/claude-batch/dist/client/cli.js` instead, so a path inside node_modules
  // is the installed package too. A checkout's `dist/client/cli.js` is neither.
  const viaBin = !/\.[cm]?js$/.test(script) || script.split(/[\\/]/).includes('node_modules');
  if (!viaBin) return `node ${quote(shortPath(script))}`;
  // npm 7+ (checked with npm 11) sets both for `npx …` and `npm exec …`. The bin check above keeps a
  // `node dist/client/cli.js` started by some other npx-run tool from claiming to be `npx claude-batch`.
  if (env.npm_command === 'exec' && env.npm_lifecycle_event === 'npx') return 'npx claude-batch';
  return 'claude-batch';
}

/** The script's path relative to the working directory, unless the absolute one is shorter. */
function shortPath(script: string): string {
  const relative = path.relative(process.cwd(), script);
  return relative && relative.length < script.length ? relative : script;
}

function quote(s: string): string {
  return /^[\w./\\:@%+=,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
