import { chunkUri, fullRef, retryUriOf, type ChunkState, type JobState } from './job-state.js';
import type { ChunkRef } from './job-types.js';

/**
 * What the job passes to its activities, built from its state: pure functions, so the payloads' sizes can be
 * checked at the largest job (test/workflows/payload-bounds.test.ts). The state keeps chunk URIs as paths under
 * the job's directory; activities get whole URIs.
 */

const jobDirOf = (state: JobState) => state.prepared?.jobDir ?? '';

/**
 * The first round's batch chunks, for estimateCost, with their digests: the estimate uses the sample prepare kept
 * only for exactly the chunks it was made from (activities/estimate-sample.ts), and re-reads every chunk otherwise.
 * The digests are ~75 bytes a chunk: 75 KB at 1000 chunks.
 */
export function estimateChunks(state: JobState): ChunkRef[] {
  return state.chunks.filter((c) => !c.sync).map((c) => fullRef(jobDirOf(state), c.ref));
}

/** planRetryRound's sources: the current round's chunks with requests to send again, and their retry lists. */
export function retrySources(state: JobState): { uri: string; retryUri: string }[] {
  const dir = jobDirOf(state);
  return state.chunks.flatMap((c) => {
    const retryUri = c.ref.round === state.round ? retryUriOf(dir, c.outcome) : null;
    return retryUri ? [{ uri: chunkUri(dir, c.ref), retryUri }] : [];
  });
}

/**
 * The synchronous round's sources at the deadline: every chunk of the current round never submitted (rerouted,
 * all of its requests) and those with requests to send again.
 */
export function syncSources(state: JobState): { uri: string; retryUri?: string }[] {
  const dir = jobDirOf(state);
  return state.chunks.flatMap((c) => {
    if (c.ref.round !== state.round) return [];
    if (c.status === 'rerouted') return [{ uri: chunkUri(dir, c.ref) }];
    const retryUri = retryUriOf(dir, c.outcome);
    return retryUri ? [{ uri: chunkUri(dir, c.ref), retryUri }] : [];
  });
}

/** The chunks whose requests finalize answers without results: never submitted, held back, failed. */
export function finalizeLists(state: JobState): {
  unsubmitted: { uri: string }[];
  heldBack: { uri: string }[];
  failed: { uri: string; error: string }[];
} {
  const dir = jobDirOf(state);
  const uri = (c: ChunkState) => chunkUri(dir, c.ref);
  return {
    // Rerouted chunks of the last round never reached the synchronous round (the job was canceled first).
    unsubmitted: state.chunks
      .filter((c) => c.status === 'pending' || (c.status === 'rerouted' && c.ref.round === state.round))
      .map((c) => ({ uri: uri(c) })),
    heldBack: state.chunks.filter((c) => c.status === 'held_back').map((c) => ({ uri: uri(c) })),
    failed: state.chunks
      .filter((c) => c.status === 'failed')
      .map((c) => ({ uri: uri(c), error: c.error ?? 'chunk failed' })),
  };
}

/** Notes naming failed chunks, at most: one per distinct error, and one for the rest. */
export const MAX_FAILURE_NOTES = 10;
/** Chunk ids a note names before "and N more". */
const NAMED_PER_NOTE = 5;

/**
 * The report's notes on failed chunks. Before COMPACT_PATCH one note a chunk; with it (`compact`) one a distinct
 * error, naming a few of its chunks, and at most MAX_FAILURE_NOTES: the notes are in the state and in finalize's
 * input, and 1000 failed chunks would otherwise add a note each (~250 KB). Every request of a failed chunk still
 * gets an output line with its chunk's error.
 */
export function failureNotes(failed: ChunkState[], compact: boolean): string[] {
  const why = (c: ChunkState) => c.error ?? 'unknown error';
  if (!compact) return failed.map((c) => `chunk ${c.ref.id} failed (${why(c)}); its requests are answered as errored`);
  const byError = new Map<string, string[]>();
  for (const c of failed) {
    const ids = byError.get(why(c));
    if (ids) ids.push(c.ref.id);
    else byError.set(why(c), [c.ref.id]);
  }
  const groups = [...byError];
  const shown = groups.length > MAX_FAILURE_NOTES ? groups.slice(0, MAX_FAILURE_NOTES - 1) : groups;
  const notes = shown.map(([error, ids]) => {
    if (ids.length === 1) return `chunk ${ids[0]} failed (${error}); its requests are answered as errored`;
    const named = ids.slice(0, NAMED_PER_NOTE).join(', ');
    const more = ids.length > NAMED_PER_NOTE ? ` and ${ids.length - NAMED_PER_NOTE} more` : '';
    return `chunks ${named}${more} failed (${error}); their requests are answered as errored`;
  });
  const rest = groups.slice(shown.length);
  if (rest.length > 0) {
    const n = rest.reduce((sum, [, ids]) => sum + ids.length, 0);
    notes.push(
      `${n} more chunk(s) failed with ${rest.length} other errors; their requests are answered as errored, each output line with its chunk's error`,
    );
  }
  return notes;
}
