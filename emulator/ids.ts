import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % 62];
  return out;
}

// Shapes follow the real API's ids: a prefix, "01", then base62 (24 characters after the prefix).
export const newBatchId = () => `msgbatch_01${base62(22)}`;
export const newRequestId = () => `req_011C${base62(20)}`;
export const newMessageId = () => `msg_01${base62(22)}`;
