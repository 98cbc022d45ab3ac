/** Input rules of PRESENCE.md's limits table, checked at the edge before anything changes. */
import { BadUserInputError } from '../errors';

const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
export const MAX_TEXT = 128;
export const MAX_URL = 512;

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Throws BAD_USER_INPUT naming `what` unless `id` is 1-128 of `A-Z a-z 0-9 . _ : @ -`. */
export function assertId(id: string, what: string): void {
  if (!isValidId(id)) {
    throw new BadUserInputError(`${what} must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -`, what);
  }
}

export function assertIds(ids: readonly string[], what: string, max: number): void {
  if (ids.length > max) throw new BadUserInputError(`${what} may hold at most ${max} ids (got ${ids.length})`, what);
  for (const id of ids) assertId(id, what);
}

export function assertText(value: string | null | undefined, what: string): void {
  if (value !== null && value !== undefined && value.length > MAX_TEXT) {
    throw new BadUserInputError(`${what} may be at most ${MAX_TEXT} characters`, what);
  }
}

export function assertUrl(value: string | null | undefined, what: string): void {
  if (value === null || value === undefined) return;
  if (value.length > MAX_URL) throw new BadUserInputError(`${what} may be at most ${MAX_URL} characters`, what);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new BadUserInputError(`${what} must be an http or https URL`, what);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BadUserInputError(`${what} must be an http or https URL`, what);
  }
}
