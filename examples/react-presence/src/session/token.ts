const STORAGE_KEY = 'presence-example.token';

/**
 * The token to start with: `?token=…` in the page URL wins (handy with
 * `npm run token -- alice`), else the one this tab signed in with before.
 */
export function initialToken(): string | null {
  const fromUrl = new URLSearchParams(window.location.search).get('token');
  if (fromUrl !== null && fromUrl.trim() !== '') return fromUrl.trim();
  return sessionStorage.getItem(STORAGE_KEY);
}

/** Remembers (or, with null, forgets) this tab's token so a reload stays signed in. */
export function rememberToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, token);
}

/** Accepts a pasted `Bearer eyJ…` as well as a bare token. */
export function normalizeToken(input: string): string {
  return input.trim().replace(/^Bearer\s+/i, '');
}
