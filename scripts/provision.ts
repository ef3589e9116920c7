/**
 * npm run provision — installs what the tests need on a fresh machine, into git-ignored folders under .cache/:
 * the Temporal CLI (dev server), the time-skipping test server, and a Python venv with the official `anthropic`
 * SDK and moto's S3 server (test/python/requirements.txt); plus Chromium for the browser test of the Temporal UI (Debian's package, as root). Idempotent: what is
 * present is not installed again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../config/load.js';
import { cacheDir, cliVersion, temporalCli, testServer } from '../client/provision/temporal-binaries.js';
import { chromium, chromiumVersion } from '../client/provision/chromium.js';
import { pipInstall, ProvisionError } from '../client/provision/python-venv.js';

const log = (s: string) => console.log(`provision: ${s}`);

function pythonTestVenv(): void {
  const requirements = path.join(packageRoot, 'test', 'python', 'requirements.txt');
  const venv = path.join(cacheDir(), 'py');
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const stamp = path.join(venv, '.provisioned');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return;
  const r = pipInstall(venv, ['-r', requirements], log);
  if ('error' in r)
    throw new ProvisionError(
      'the Python test venv',
      [{ source: 'pip', outcome: r.error }],
      'install python3 with venv and pip',
    );
  writeFileSync(stamp, wanted);
  log(`Python packages installed in ${path.relative(packageRoot, venv)}`);
}

try {
  const cli = temporalCli({ log });
  log(`Temporal CLI: ${cli.path} (${cli.source}; ${cliVersion(cli.path)})`);
  const ts = testServer({ log });
  log(`Temporal test server: ${ts.path} (${ts.source})`);
  pythonTestVenv();
  const browser = chromium({ log });
  log(`Chromium: ${browser.path} (${browser.source}; ${chromiumVersion(browser.path) ?? 'unknown version'})`);
} catch (err) {
  console.error(err instanceof ProvisionError ? `provision: ${err.message}` : err);
  process.exit(1);
}
