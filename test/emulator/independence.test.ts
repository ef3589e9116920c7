import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The emulator stands in for Anthropic. A test comparing a job's cost report with the emulator's bill only means
// something if the two sides share no prices and no rules, so no emulator module may reach the orchestrator's.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const emulatorDir = path.join(root, 'emulator');

const FORBIDDEN: { what: string; test: (file: string) => boolean }[] = [
  { what: 'shared/pricing.ts', test: (f) => f === path.join(root, 'shared', 'pricing.ts') },
  { what: 'shared/request-rules.ts', test: (f) => f === path.join(root, 'shared', 'request-rules.ts') },
  { what: 'config/prices.json', test: (f) => f === path.join(root, 'config', 'prices.json') },
  { what: 'config/models.json', test: (f) => f === path.join(root, 'config', 'models.json') },
];

/** Module specifiers of static imports and re-exports, `import()` calls and `require()`s in a source file. */
function specifiersOf(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1]!));
}

/** The source file a relative specifier names: `./x.js` is compiled from `./x.ts`. */
function resolve(from: string, specifier: string): string {
  const target = path.resolve(path.dirname(from), specifier);
  const ts = target.replace(/\.js$/, '.ts');
  return existsSync(ts) ? ts : target;
}

describe('the emulator shares no pricing or rules with the orchestrator', () => {
  const sources = readdirSync(emulatorDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(emulatorDir, f));

  it('finds the emulator sources', () => {
    assert.ok(sources.length > 20, `read ${sources.length} files from ${emulatorDir}`);
    assert.ok(sources.some((f) => f.endsWith('billing.ts')));
  });

  it('imports nothing from shared/pricing, shared/request-rules or config/, directly or through another module', () => {
    const seen = new Set<string>();
    const queue = sources.map((file) => ({ file, via: [path.relative(root, file)] }));
    const problems: string[] = [];
    while (queue.length > 0) {
      const { file, via } = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      if (!file.endsWith('.ts') || !existsSync(file)) continue;
      for (const specifier of specifiersOf(readFileSync(file, 'utf8'))) {
        if (!specifier.startsWith('.')) continue;
        const target = resolve(file, specifier);
        const chain = [...via, path.relative(root, target)];
        for (const rule of FORBIDDEN) if (rule.test(target)) problems.push(`${rule.what}: ${chain.join(' → ')}`);
        if (path.relative(root, target).startsWith(`config${path.sep}`)) problems.push(`config/: ${chain.join(' → ')}`);
        queue.push({ file: target, via: chain });
      }
    }
    assert.deepEqual(problems, []);
  });

  it('names no orchestrator price or model file in its sources', () => {
    for (const file of sources) {
      const text = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\*|\/\/|\/\*\*)/.test(line)) // comments may explain why it does not
        .join('\n');
      assert.doesNotMatch(text, /config\/(prices|models)\.json|shared\/(pricing|request-rules)/, path.basename(file));
      assert.doesNotMatch(text, /loadPriceTable|batchCostUsd|forbiddenParam|CUSTOM_ID_PATTERN/, path.basename(file));
    }
  });

  it('keeps its own price list and model catalogue next to its code', () => {
    for (const name of ['prices.json', 'models.json']) assert.ok(existsSync(path.join(emulatorDir, name)), name);
  });
});
