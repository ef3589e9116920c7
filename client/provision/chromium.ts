import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lastLine, ProvisionError, type Attempt } from './python-venv.js';
import { executable, type Binary } from './temporal-binaries.js';

/**
 * Where the headless Chromium for the browser tests (the Temporal UI's Start Workflow form) comes from, in order:
 * CHROMIUM_PATH → /usr/bin/chromium → as root on Debian, `apt-get install chromium chromium-driver` (Debian's own
 * package; browser builds downloaded by Playwright's installer are not used).
 */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';
export const APT_PACKAGES = ['chromium', 'chromium-driver'] as const;

export interface ChromiumOptions {
  /** Install Debian's package when nothing is found (default true). */
  install?: boolean;
  log?: (line: string) => void;
}

/** `chromium --version` output (e.g. "Chromium 140.0.7339.185 built on Debian 12.12"), or null if it does not run. */
export function chromiumVersion(file: string): string | null {
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim().split('\n')[0]! : null;
}

function aptInstall(log: (line: string) => void): string | { error: string } {
  if (!existsSync('/etc/debian_version')) return { error: 'not a Debian-based system' };
  if (process.getuid?.() !== 0) return { error: 'not root (apt-get install needs root)' };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => spawnSync('apt-get', args, { encoding: 'utf8', env, timeout: 15 * 60_000 });
  log('apt-get update');
  const update = apt(['update']);
  if (update.error) return { error: `apt-get update failed: ${update.error.message}` };
  if (update.status !== 0) return { error: `apt-get update failed: ${lastLine(update.stderr || update.stdout)}` };
  log(`apt-get install ${APT_PACKAGES.join(' ')} (a minute or two)`);
  const install = apt(['install', '-y', '--no-install-recommends', ...APT_PACKAGES]);
  if (install.status !== 0) return { error: `apt-get install failed: ${lastLine(install.stderr || install.stdout)}` };
  if (!executable(SYSTEM_CHROMIUM)) return { error: `installed, but ${SYSTEM_CHROMIUM} is missing` };
  return chromiumVersion(SYSTEM_CHROMIUM)
    ? SYSTEM_CHROMIUM
    : { error: `installed, but ${SYSTEM_CHROMIUM} does not run` };
}

/** A Chromium binary for headless browser tests; throws a ProvisionError listing what was tried. */
export function chromium(options: ChromiumOptions = {}): Binary {
  const install = options.install ?? true;
  const log = options.log ?? ((s) => console.error(`provision: ${s}`));
  const attempts: Attempt[] = [];

  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (executable(fromEnv)) return { path: fromEnv, source: '$CHROMIUM_PATH' };
    throw new ProvisionError(
      'Chromium',
      [{ source: `$CHROMIUM_PATH (${fromEnv})`, outcome: 'not an executable file' }],
      'point CHROMIUM_PATH at a Chromium or Chrome binary, or unset it',
    );
  }
  attempts.push({ source: '$CHROMIUM_PATH', outcome: 'not set' });

  if (executable(SYSTEM_CHROMIUM)) {
    if (chromiumVersion(SYSTEM_CHROMIUM)) return { path: SYSTEM_CHROMIUM, source: SYSTEM_CHROMIUM };
    attempts.push({ source: SYSTEM_CHROMIUM, outcome: 'present, but `--version` fails' });
  } else attempts.push({ source: SYSTEM_CHROMIUM, outcome: 'not present' });

  const aptSource = `apt-get install ${APT_PACKAGES.join(' ')}`;
  if (install) {
    const result = aptInstall(log);
    if (typeof result === 'string') return { path: result, source: aptSource };
    attempts.push({ source: aptSource, outcome: result.error });
  } else attempts.push({ source: aptSource, outcome: 'not tried (install: false; run `npm run provision`)' });

  throw new ProvisionError(
    'Chromium',
    attempts,
    `run \`npm run provision\` as root on Debian/Ubuntu (it installs Debian's \`chromium\` package), or install Chromium yourself and set CHROMIUM_PATH to its binary`,
  );
}

/** The path of a Chromium binary (see `chromium`). */
export function chromiumPath(options: ChromiumOptions = {}): string {
  return chromium(options).path;
}
