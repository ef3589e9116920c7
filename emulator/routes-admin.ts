import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isoMicros } from './batch-record.js';
import { invalidRequest } from './errors.js';
import { FaultsSchema, type FaultsInput } from './faults.js';
import { ProcessingSchema } from './options.js';
import type { EmulatorContext } from './server.js';

const AdvanceSchema = z
  .object({ seconds: z.number().min(0).optional(), ms: z.number().min(0).optional(), to: z.iso.datetime().optional() })
  .strict();

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw invalidRequest(z.prettifyError(result.error));
  return result.data;
}

/**
 * Control and admin endpoints under /_emulator (no API key: the emulator is a local tool). Tests use them to move
 * the clock, inject faults, and read the billing ledger.
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const { clock, faults, store, ledger } = ctx;
  const clockView = () => ({ now: isoMicros(clock.now()), nowMs: clock.now(), timeScale: clock.timeScale });

  app.get('/_emulator/health', async () => ({ ok: true }));

  app.get('/_emulator/stats', async () => {
    await store.settleAll();
    return {
      ...ledger.stats(),
      queue: { waitingRequests: store.queued(clock.now()) },
      rateLimited: { messages: faults.messagesRateLimited },
      clock: clockView(),
    };
  });

  app.get('/_emulator/clock', async () => clockView());

  /** Moves virtual time forward, then ends every batch that is due, before answering. */
  app.post('/_emulator/clock/advance', async (req) => {
    const { seconds, ms, to } = parse(AdvanceSchema, req.body);
    const delta = to !== undefined ? Date.parse(to) - clock.now() : (ms ?? 0) + (seconds ?? 0) * 1000;
    if (delta < 0) throw invalidRequest('the clock only moves forward');
    clock.advance(delta);
    await store.runDue();
    return clockView();
  });

  app.put('/_emulator/clock', async (req) => {
    const { timeScale } = parse(z.object({ timeScale: z.number().positive() }).strict(), req.body);
    clock.setTimeScale(timeScale);
    await store.runDue();
    return clockView();
  });

  app.get('/_emulator/faults', async () => faults.snapshot());
  app.put('/_emulator/faults', async (req) => {
    faults.replace(parse(FaultsSchema, req.body) as FaultsInput);
    return faults.snapshot();
  });
  app.patch('/_emulator/faults', async (req) => {
    const patch = parse(z.record(z.string(), z.unknown()), req.body);
    faults.replace(parse(FaultsSchema, faults.mergedWith(patch)) as FaultsInput);
    return faults.snapshot();
  });
  app.delete('/_emulator/faults', async () => {
    faults.replace({});
    return faults.snapshot();
  });

  app.get('/_emulator/processing', async () => ctx.processing);
  app.put('/_emulator/processing', async (req) => {
    const patch = parse(z.record(z.string(), z.unknown()), req.body);
    Object.assign(ctx.processing, parse(ProcessingSchema, { ...ctx.processing, ...patch }));
    return ctx.processing;
  });
}
