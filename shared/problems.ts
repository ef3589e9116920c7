import type { z } from 'zod';

/** One line per problem, for people: "chunk.maxRequests: must be ≥ 1 (got 0)". */
export function describeIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const at = (extra?: string) => [...issue.path, ...(extra ? [extra] : [])].join('.') || '(input)';
    const got = 'input' in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : '';
    switch (issue.code) {
      case 'invalid_type':
        return [`${at()}: ${issue.input === undefined ? 'required' : `must be a ${issue.expected}${got}`}`];
      case 'too_small':
        return [`${at()}: must be ≥ ${String(issue.minimum)}${got}`];
      case 'too_big':
        return [`${at()}: must be ≤ ${String(issue.maximum)}${got}`];
      case 'invalid_value':
        return [`${at()}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${got}`];
      case 'unrecognized_keys':
        return issue.keys.map((key) => `${at(key)}: not a known setting`);
      default:
        return [`${at()}: ${issue.message}`];
    }
  });
}
