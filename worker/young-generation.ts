import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation (where new objects start) at its smallest, 1 MB per semi-space, in the worker's
 * workflow thread, and in the main thread while the worker starts. V8 grows it up to 16 MB per semi-space (32 MB
 * resident) and never gives it back: measured, 20 MB of the workflow thread's heap was young space, mostly empty.
 *
 * Flags are read when an isolate is created, so `--max-semi-space-size` reaches only isolates made after this call
 * (the workflow thread, which `Worker.create` starts); `--semi-space-growth-factor=1` stops the main isolate's
 * growing meanwhile. So this runs first thing in the CLI for `claude-batch worker` (client/worker-flags.ts). Node 20
 * undoes these flags when it starts a thread, which lets the main thread's young space grow again once the worker
 * exists — as wanted: held at 1 MB there, prepare's parsing took 35% longer. An application embedding the worker
 * keeps V8's defaults.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--max-semi-space-size=1');
  setFlagsFromString('--semi-space-growth-factor=1');
}
