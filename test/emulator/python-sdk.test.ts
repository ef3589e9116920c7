import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

const python = path.join(packageRoot, '.cache', 'py', 'bin', 'python');
const PYTHON_KEY = 'sk-ant-python-test';
const suite = path.join(packageRoot, 'test', 'python', 'test_emulator_flows.py');

describe('official Python SDK against the emulator', () => {
  let h: EmulatorHarness;
  before(async () => {
    assert.ok(existsSync(python), 'the Python venv is provisioned by `npm run provision` (part of `npm test`)');
    h = await startTestEmulator({ apiKeys: [PYTHON_KEY] });
  });
  after(() => h.close());

  it('passes the pytest flows with strict response validation', async () => {
    const child = spawn(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', suite], {
      env: { ...process.env, EMULATOR_URL: h.url, EMULATOR_KEY: PYTHON_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, output);
    const summary = /(\d+) passed/.exec(output);
    assert.ok(summary, output);
    assert.ok(Number(summary[1]) >= 11, `every flow ran: ${summary[0]}`);
    assert.doesNotMatch(output, /skipped|failed|error/i);
  });
});
