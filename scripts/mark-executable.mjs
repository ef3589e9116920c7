// tsc does not keep the executable bit; npm links the bin, but a direct ./dist/client/cli.js needs it.
import { chmodSync, existsSync } from 'node:fs';
const bin = new URL('../dist/client/cli.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);
