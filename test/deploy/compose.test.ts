import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import { SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/search-attributes.js';

const python = path.join(packageRoot, '.cache', 'py', 'bin', 'python');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

// No Docker engine runs here: the compose file is validated against the Compose spec, not run.
describe('docker-compose.yml', () => {
  const run = spawnSync(
    python,
    [path.join(packageRoot, 'test', 'python', 'validate_compose.py'), path.join(packageRoot, 'docker-compose.yml')],
    { encoding: 'utf8' },
  );

  it('is a valid Compose file whose references resolve', () => {
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  it('runs Temporal on PostgreSQL with pinned images, workers from this repo, and the emulator behind a profile', () => {
    const services = (JSON.parse(run.stdout) as { services: Record<string, Service & { profiles?: string[] }> })
      .services;
    for (const [name, s] of Object.entries(services))
      if (s.image) assert.match(s.image, /:\d/, `${name} pins its image version`);
    assert.deepEqual(services.worker!.command, ['worker']);
    assert.equal(services.worker!.environment!.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(
      services.worker!.environment!.ANTHROPIC_API_KEY,
      '${ANTHROPIC_API_KEY:?set ANTHROPIC_API_KEY}',
      'the key comes from the environment, never the file',
    );
    assert.equal(services.worker!.depends_on!['temporal-setup']!.condition, 'service_completed_successfully');
    assert.deepEqual(services.emulator!.profiles, ['emulator']);
  });

  it('creates every search attribute the jobs set', () => {
    const script = readFileSync(path.join(packageRoot, 'deploy', 'temporal', 'setup-namespace.sh'), 'utf8');
    for (const [name, type] of SEARCH_ATTRIBUTE_FLAGS)
      assert.ok(script.includes(`--name ${name} --type ${type}`), name);
  });
});
