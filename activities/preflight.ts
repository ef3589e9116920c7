import { ApplicationFailure } from '@temporalio/common';
import { classifyIoError } from '../shared/io-failures.js';
import type { ActivityDeps } from './deps.js';
import { reportBase } from './finalize.js';

export interface PreflightArgs {
  input: string;
  /** Omitted for a dry run, which writes nothing of the user's. */
  output?: string | undefined;
  report?: string | undefined;
  overwrite: boolean;
  /** For a Schedule: an output that exists now is only a warning (the next run may write another file). */
  scheduled?: boolean;
  /** A Schedule's input that uses {date} appears only on the night it is read: then only its folder is checked. */
  inputMayAppear?: boolean;
}

export interface PreflightResult {
  input: string;
  output: string | null;
  reportJson: string | null;
  reportMarkdown: string | null;
  warnings: string[];
}

const refuse = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/**
 * Everything about a job's files that can be known before a cent is spent: input and output resolved within the
 * worker's allowed roots, the input a readable file, the outputs writable, never the input (also through symlinks,
 * hard links or `..`), and none overwritten unless the job says `overwrite`. Final answers are non-retryable; an
 * I/O error that can heal is retried.
 */
export function preflightActivities(deps: ActivityDeps) {
  const { store } = deps;

  async function checkInput(uri: string, mayAppear: boolean): Promise<string[]> {
    const entry = await store.inspect(uri);
    if (!entry) {
      if (mayAppear) {
        const problem = await store.unwritable(uri);
        if (problem?.startsWith('no folder')) throw refuse(`input ${uri}: no folder of it exists`, 'InputNotFound');
        return [`input ${uri} does not exist yet; each run reads it when it starts`];
      }
      throw refuse(`input ${uri} does not exist`, 'InputNotFound');
    }
    if (entry.kind === 'directory')
      throw refuse(`input ${uri} is a folder; give the file of requests inside it`, 'InputIsDirectory');
    if (entry.kind !== 'file') throw refuse(`input ${uri} is not a regular file`, 'InputNotAFile');
    // Reading the first byte proves the worker may read it (permissions, a dangling mount).
    for await (const _ of store.read(uri, { start: 0 })) break;
    return [];
  }

  async function checkTarget(
    what: string,
    uri: string,
    inputUri: string,
    overwrite: boolean,
    scheduled: boolean,
  ): Promise<string[]> {
    if (store.canonical(uri) === store.canonical(inputUri))
      throw refuse(
        `${what} ${uri} is the input file: the job would replace your input with its results`,
        'OutputIsInput',
      );
    const [entry, input] = await Promise.all([store.inspect(uri), store.inspect(inputUri)]);
    if (entry && input && entry.identity === input.identity)
      throw refuse(`${what} ${uri} is the input file (a link to it)`, 'OutputIsInput');
    if (entry?.kind === 'directory') throw refuse(`${what} ${uri} is a folder; name a file`, 'OutputIsDirectory');
    if (entry && !overwrite) {
      if (scheduled) return [`${what} ${uri} exists now; a run whose ${what} exists fails unless overwrite is set`];
      throw refuse(
        `${what} ${uri} already exists; nothing was overwritten or submitted. Choose another path, or allow replacing it (overwrite)`,
        'OutputExists',
      );
    }
    const problem = await store.unwritable(uri);
    if (problem) throw refuse(`${what} ${uri} cannot be written: ${problem}`, 'OutputNotWritable');
    return [];
  }

  return {
    async preflightJob(args: PreflightArgs): Promise<PreflightResult> {
      try {
        const input = store.resolve(args.input);
        const warnings = await checkInput(input, args.inputMayAppear ?? false);
        if (args.output === undefined) return { input, output: null, reportJson: null, reportMarkdown: null, warnings };
        const output = store.resolve(args.output);
        const base = store.resolve(reportBase(args.output, args.report));
        const targets: [string, string][] = [
          ['output', output],
          ['report', `${base}.json`],
          ['report', `${base}.md`],
        ];
        const canonical = targets.map(([, uri]) => store.canonical(uri));
        if (new Set(canonical).size < canonical.length)
          throw refuse(`the output ${output} and the report ${base}.(json|md) must be different files`, 'OutputClash');
        for (const [what, uri] of targets)
          warnings.push(...(await checkTarget(what, uri, input, args.overwrite, args.scheduled ?? false)));
        return { input, output, reportJson: `${base}.json`, reportMarkdown: `${base}.md`, warnings };
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        const failure = classifyIoError(err, `a file of job input ${args.input}`);
        if (failure.retryable) throw err;
        throw refuse(failure.message, failure.type);
      }
    },
  };
}
