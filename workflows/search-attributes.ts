import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes of a job, so the Temporal UI's workflow list can filter on them. Registered by `claude-batch dev`. */
export const BatchJobStatus = defineSearchAttributeKey('BatchJobStatus', SearchAttributeType.KEYWORD);
export const BatchJobEstimatedUsd = defineSearchAttributeKey('BatchJobEstimatedUsd', SearchAttributeType.DOUBLE);
export const BatchJobExpiringSoon = defineSearchAttributeKey('BatchJobExpiringSoon', SearchAttributeType.BOOL);

export const SEARCH_ATTRIBUTES = [BatchJobStatus, BatchJobEstimatedUsd, BatchJobExpiringSoon];

/** `Name=Type` pairs as `temporal server start-dev --search-attribute` and `temporal operator search-attribute create` take them. */
export const SEARCH_ATTRIBUTE_FLAGS: [string, string][] = [
  ['BatchJobStatus', 'Keyword'],
  ['BatchJobEstimatedUsd', 'Double'],
  ['BatchJobExpiringSoon', 'Bool'],
];
