import { z } from 'zod';
import { FaultsSchema } from './faults.js';

export const ProcessingSchema = z
  .object({
    baseLatencyMs: z.number().min(0).default(60_000),
    perRequestMs: z.number().min(0).default(20),
    spread: z.number().min(0).max(1).default(0.25),
    cancelLatencyMs: z.number().min(0).default(5_000),
  })
  .strict();

export const EmulatorOptionsSchema = z
  .object({
    dataDir: z.string().min(1),
    host: z.string().default('127.0.0.1'),
    /** 0 = any free port. */
    port: z.number().int().min(0).max(65535).default(4010),
    /** Virtual seconds per wall-clock second (3600 = one hour per second). */
    timeScale: z.number().positive().default(1),
    /** Accepted API keys; empty = any non-empty key. */
    apiKeys: z.array(z.string().min(1)).default([]),
    /** Base of `results_url`; by default taken from the request's Host header. */
    publicUrl: z.url().optional(),
    maxRequestsPerBatch: z.number().int().positive().default(100_000),
    maxBatchBytes: z.number().int().positive().default(256_000_000),
    /** Body limit of /v1/messages and /v1/messages/count_tokens. */
    maxMessageBytes: z.number().int().positive().default(32_000_000),
    /** Default processing-time model of new batches (a create may override it with `x-emulator-processing`). */
    processing: ProcessingSchema.default(ProcessingSchema.parse({})),
    /** Opt-in: move `request_counts` while a batch runs (the real API moves them only when it ends). */
    incrementalCounts: z.boolean().default(false),
    /** Cancel of an ended batch: 400 (default) or 200 with the batch unchanged. Undocumented in the real API. */
    cancelEnded: z.enum(['error', 'unchanged']).default('error'),
    faults: FaultsSchema.default(FaultsSchema.parse({})),
    /** Log each request to stderr. */
    logRequests: z.boolean().default(false),
  })
  .strict();

export type EmulatorOptionsInput = z.input<typeof EmulatorOptionsSchema>;
export type EmulatorOptions = z.infer<typeof EmulatorOptionsSchema>;
export type ProcessingInput = z.input<typeof ProcessingSchema>;
