#!/usr/bin/env node
// Installs what the tests need on a fresh machine, into git-ignored folders under .cache/:
//   .cache/py   a Python venv with the packages of test/python/requirements.txt
// Idempotent: a stamp file records what was installed, so a second run does nothing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cache = path.join(root, '.cache');
const venv = path.join(cache, 'py');
const python = path.join(venv, 'bin', 'python');

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`provision: ${what} failed (${cmd} ${args.join(' ')}; exit ${r.status ?? r.error?.message}).`);
    process.exit(1);
  }
}

function findPython() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    const r = spawnSync(candidate, ['-c', 'import sys, venv; print(sys.version_info >= (3, 9))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return candidate;
  }
  console.error(
    'provision: no Python ≥ 3.9 with the venv module found. Install python3 and python3-venv, or set PYTHON.',
  );
  process.exit(1);
}

function provisionPython() {
  const requirements = path.join(root, 'test', 'python', 'requirements.txt');
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const stamp = path.join(venv, '.provisioned');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(python)) return;
  mkdirSync(cache, { recursive: true });
  if (!existsSync(python)) run(findPython(), ['-m', 'venv', venv], 'creating the Python venv');
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements], 'pip install');
  writeFileSync(stamp, wanted);
  console.log(`provision: Python packages installed in ${path.relative(root, venv)}`);
}

provisionPython();
