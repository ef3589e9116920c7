import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation (where new objects start) at its smallest, 1 MB per semi-space, in the worker's
 * process. V8 grows it up to 16 MB per semi-space (32 MB resident) while modules load and never gives it back, and
 * the workflow thread's own isolate grows its own the same way: measured, 30 + 20 MB of the worker's RSS were young
 * space that held under 8 MB. A worker's objects are short-lived lines and buffers, so a small young generation
 * costs no measurable CPU (a million-request job: 38.9 s of worker CPU against 38.9–40.9 s).
 *
 * Flags are read when an isolate is created, so `--max-semi-space-size` reaches only isolates made after this call
 * (the workflow thread, which `Worker.create` starts). This process's own isolate keeps the young space it has;
 * `--semi-space-growth-factor=1` stops it growing, so this must run before the worker's modules load: for
 * `claude-batch worker`, first thing in the CLI (client/worker-flags.ts). Node 20 undoes these flags
 * when it starts a thread (measured: the main isolate grew to 32 MB again once the workflow thread existed), so the
 * command calls this again once the worker is created. An application embedding the worker keeps V8's defaults.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--max-semi-space-size=1');
  setFlagsFromString('--semi-space-growth-factor=1');
}
