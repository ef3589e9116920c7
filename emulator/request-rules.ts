/**
 * The Message Batches API's own rules for one element of `requests`, as the emulator enforces them at create time.
 * Written from the API reference (../shared/reference/anthropic-message-batches.md §4.1–4.3), not shared with the
 * orchestrator's pre-flight checks: if the two disagree, a test against the emulator should notice.
 */

/** API reference: `custom_id` is a string of 1 to 64 characters, alphanumerics, hyphens and underscores only. */
export const CUSTOM_ID = { minLength: 1, maxLength: 64, pattern: /^[a-zA-Z0-9_-]{1,64}$/ } as const;

interface BatchOnlyRule {
  field: string;
  refuses: (value: unknown) => boolean;
  message: string;
}

const unsupported = (field: string): BatchOnlyRule => ({
  field,
  refuses: (value) => value !== undefined,
  message: `'${field}' is not supported in Message Batches`,
});

/**
 * Params a Messages request may carry on its own but not inside a batch. The batch guide: "Including any of these
 * returns a validation error". The message texts are ours [INF]; the API's are not documented.
 */
const BATCH_ONLY_RULES: readonly BatchOnlyRule[] = [
  { field: 'stream', refuses: (v) => v === true, message: 'streaming is not supported in Message Batches' },
  // Cache pre-warming (max_tokens 0) is a synchronous trick: "Each batched request must have max_tokens of at least 1".
  {
    field: 'max_tokens',
    refuses: (v) => typeof v === 'number' && v < 1,
    message: 'Input should be greater than or equal to 1',
  },
  {
    field: 'speed',
    refuses: (v) => v !== undefined && v !== 'standard',
    message: 'fast mode is not available in Message Batches',
  },
  unsupported('store'),
  unsupported('previous_thread_event_id'),
  unsupported('cache_hint'),
  unsupported('context_hint'),
  {
    field: 'research_preview_2026_02',
    refuses: (v) => v === 'active',
    message: 'research previews are not available in Message Batches',
  },
];

/** The first param of `params` a batch refuses, in the order above, or null. */
export function batchOnlyProblem(params: Record<string, unknown>): { field: string; message: string } | null {
  const rule = BATCH_ONLY_RULES.find((r) => r.refuses(params[r.field]));
  return rule ? { field: rule.field, message: rule.message } : null;
}
