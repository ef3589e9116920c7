import { commandName } from './command-name.js';

/**
 * What to do about a job that failed, in the CLI's own words (the workflow's message speaks of job-input fields,
 * since the UI, Schedules and parent workflows start jobs too). Null for a failure without a known remedy: the
 * caller says what fits its command.
 */
export function failureHint(type: string | null): string | null {
  const cmd = commandName();
  switch (type) {
    case 'InvalidInputLines':
      return 'fix those lines, or rerun with --on-invalid skip to submit only the valid ones';
    case 'UnpricedModel':
      return `give the model a price with --price <model>=<input>,<output> (USD per million tokens, standard rates), or point the worker's CLAUDE_BATCH_PRICES at a newer table; \`${cmd} prices\` shows the table`;
    case 'NothingToSubmit':
      return 'check the input file (and --format); pass --allow-empty if an empty input is expected';
    case 'OutputExists':
      return 'choose another --out, or pass --overwrite to replace it';
    case 'OutputIsInput':
      return 'write the results to another file: your input is never overwritten';
    case 'OutputIsDirectory':
    case 'OutputNotWritable':
    case 'OutputClash':
      return 'choose another --out (and --report)';
    case 'StorageAccessDenied':
      return "the worker may use only the folders (and s3:// buckets or prefixes) in its CLAUDE_BATCH_ALLOWED_ROOTS (default: the worker's working directory) and CLAUDE_BATCH_STORAGE; move the files there or widen that setting on the worker";
    case 'StorageUnsupported':
      return 'pass a local path, a file:// or an s3:// URI';
    case 'InputNotFound':
    case 'InputENOENT':
      return 'check the path: it is read on the worker, which must see the same file system';
    case 'InputIsDirectory':
    case 'InputEISDIR':
    case 'InputNotAFile':
      return 'give the file of requests, not its folder';
    case 'InputLineTooLong':
    case 'InputTooComplex':
      return 'split or fix that line (is the file JSONL, one request per line?)';
    case 'InvalidTemplate':
      return 'fix --prompt, --column or --id-column to match the CSV header';
    case 'InvalidJobInput':
      return `see \`${cmd} run --help\` for the allowed values`;
    case 'AnthropicAuthFailed':
      return "the API key is the worker's (ANTHROPIC_API_KEY in its environment), not the CLI's";
    case 'JobRejected':
    case 'ApprovalTimedOut':
      return `nothing was submitted; start it again (\`${cmd} run … --yes\` approves up front)`;
    default:
      return null;
  }
}

/** Failures that end a job before anything was submitted, because of what it was given: user mistakes (exit 2). */
export function isRefusal(type: string | null): boolean {
  if (!type) return false;
  return (
    /^(Input|Output|Storage)/.test(type) ||
    ['InvalidInputLines', 'NothingToSubmit', 'InvalidTemplate', 'InvalidJobInput', 'TooManyChunks'].includes(type)
  );
}
