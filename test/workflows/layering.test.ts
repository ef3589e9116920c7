import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';

/** Which folders each layer may not import from: lower layers never reach the ones built on them. */
const FORBIDDEN: Record<string, string[]> = {
  shared: ['activities', 'worker', 'client', 'storage', 'workflows', 'emulator'],
  storage: ['activities', 'worker', 'client', 'workflows'],
  activities: ['worker', 'client', 'workflows'],
  workflows: ['worker', 'client', 'storage'],
  worker: ['client'],
};

function sources(dir: string): string[] {
  return readdirSync(path.join(packageRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

describe('layers', () => {
  for (const [layer, above] of Object.entries(FORBIDDEN))
    it(`${layer}/ imports nothing from ${above.join(', ')}`, () => {
      for (const file of sources(layer)) {
        const text = readFileSync(path.join(packageRoot, file), 'utf8');
        for (const m of text.matchAll(/from '(\.\.?\/[^']+)'/g)) {
          const target = path.normalize(path.join(path.dirname(file), m[1]!)).split(path.sep)[0]!;
          // Type-only imports of activity signatures are how workflows name their activities (no code is loaded).
          const typeOnly = new RegExp(`import type [^;]*from '${m[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`).test(
            text,
          );
          assert.ok(!above.includes(target) || typeOnly, `${file} imports ${m[1]}`);
        }
      }
    });
});
