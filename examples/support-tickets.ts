/**
 * A realistic sample job, generated deterministically (nothing to download, nothing committed): synthetic support
 * tickets to classify, all sharing one cached system prompt, in the Anthropic batch JSONL format.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export const TICKET_LABELS = ['billing', 'bug', 'feature_request', 'account', 'shipping', 'other'] as const;

const OPENERS = ['Hi team,', 'Hello,', 'Urgent:', 'Quick question:', 'Hey support,', 'Good morning,'];
const ISSUES = [
  'I was charged twice for my subscription this month',
  'the export button crashes the app on large files',
  'could you add dark mode to the dashboard',
  'I cannot log in after resetting my password',
  'my package has been stuck in transit for a week',
  'the invoice shows the wrong company address',
  'search results are empty when I use quotes',
  'please support exporting reports to CSV',
  'two-factor codes arrive after they expire',
  'the tracking number you sent does not exist',
  'I want to change the email on my account',
  'the mobile app logs me out every hour',
];
const CLOSERS = ['Thanks!', 'Please help.', 'Regards, Sam', 'Cheers', 'Any update appreciated.', ''];

/** The shared instructions, long enough to be cached (above every model's minimum cacheable length). */
export function ticketSystemPrompt(): string {
  const policy = Array.from(
    { length: 260 },
    (_, i) =>
      `Rule ${i + 1}: route tickets by their main intent; when several apply, prefer the one the customer asks to be fixed first.`,
  ).join('\n');
  return [
    'You are a support triage assistant for Acme Cloud.',
    `Classify the ticket. Answer with one of: ${TICKET_LABELS.join(', ')}. Reply with the label only.`,
    'Routing handbook:',
    policy,
  ].join('\n');
}

function pick<T>(list: readonly T[], n: number): T {
  return list[n % list.length]!;
}

export function ticketText(i: number): string {
  return `${pick(OPENERS, i * 7)} ${pick(ISSUES, i * 13 + 5)} (order #${100_000 + i}). ${pick(CLOSERS, i * 3)}`.trim();
}

export function ticketRequest(i: number, model = 'claude-haiku-4-5') {
  return {
    custom_id: `ticket-${String(i).padStart(6, '0')}`,
    params: {
      model,
      max_tokens: 16,
      system: [
        {
          type: 'text' as const,
          text: ticketSystemPrompt(),
          cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
        },
      ],
      messages: [{ role: 'user' as const, content: ticketText(i) }],
    },
  };
}

/** Writes `count` ticket requests as JSONL. */
export async function writeTicketJob(file: string, count: number, model?: string): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < count; i++) {
    if (!out.write(JSON.stringify(ticketRequest(i, model)) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}
