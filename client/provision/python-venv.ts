import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** A tool we tried to obtain, and why it did not work. */
export interface Attempt {
  source: string;
  outcome: string;
}

export class ProvisionError extends Error {
  constructor(
    readonly what: string,
    readonly attempts: Attempt[],
    readonly fix: string,
  ) {
    super(
      [
        `could not find or install ${what}. Tried:`,
        ...attempts.map((a) => `  - ${a.source}: ${a.outcome}`),
        `Fix: ${fix}`,
      ].join('\n'),
    );
  }
}

export function pythonOnPath(): string | null {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter((c): c is string => !!c)) {
    const r = spawnSync(candidate, ['-c', 'import sys, venv; print(sys.version_info >= (3, 9))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return candidate;
  }
  return null;
}

/** Creates (if needed) a venv at `dir` and pip-installs `requirements` into it. Returns its python, or an error text. */
export function pipInstall(
  dir: string,
  requirements: string[],
  log: (line: string) => void,
): { python: string } | { error: string } {
  const python = path.join(dir, 'bin', 'python');
  if (!existsSync(python)) {
    const base = pythonOnPath();
    if (!base)
      return { error: 'no Python ≥ 3.9 with the venv module (install python3 and python3-venv, or set PYTHON)' };
    mkdirSync(path.dirname(dir), { recursive: true });
    const venv = spawnSync(base, ['-m', 'venv', dir], { encoding: 'utf8' });
    if (venv.status !== 0) return { error: `python -m venv failed: ${lastLine(venv.stderr)}` };
  }
  log(`pip install ${requirements.join(' ')}`);
  const pip = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--only-binary=:all:', ...requirements],
    { encoding: 'utf8' },
  );
  if (pip.status !== 0) return { error: `pip install failed: ${lastLine(pip.stderr || pip.stdout)}` };
  return { python };
}

export function lastLine(text: string | null | undefined): string {
  const lines = (text ?? '').trim().split('\n').filter(Boolean);
  return lines.at(-1) ?? '(no output)';
}
