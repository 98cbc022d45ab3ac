const STORAGE_KEY = 'presence-example.deviceId';

/**
 * This tab's device id, created once and kept in sessionStorage.
 *
 * sessionStorage (not localStorage) because each tab is its own device: closing one tab must
 * take only that tab offline. It survives a reload of the same tab, so a reload reconnects the
 * same device within the service's grace period and contacts see no OFFLINE/ONLINE blip.
 * Ids match the service's rule (1-128 of `A-Z a-z 0-9 . _ : @ -`).
 */
export function perTabDeviceId(): string {
  const existing = sessionStorage.getItem(STORAGE_KEY);
  if (existing !== null && /^[A-Za-z0-9._:@-]{1,128}$/.test(existing)) return existing;
  const created = `web-${randomId()}`;
  sessionStorage.setItem(STORAGE_KEY, created);
  return created;
}

function randomId(): string {
  // randomUUID exists only in secure contexts; a dev server opened over a LAN address is not one.
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
