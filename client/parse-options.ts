import ms from 'ms';
import { InvalidArgumentError } from 'commander';

/** Commander parsers that turn bad values into one-line errors. */
export function durationMs(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const parsed = ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || Number.isNaN(parsed))
    throw new InvalidArgumentError('expected a duration such as 250ms, 30s, 5m or 1h');
  return parsed;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

export function nonNegative(value: string): number {
  const n = Number(value);
  if (!(n >= 0)) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0–65535');
  return n;
}

export function rate(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a rate between 0 and 1');
  return n;
}

export function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] = []) => [...previous, parse(value)];
}
