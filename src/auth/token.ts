/**
 * HS256 bearer tokens: `sub` is the user id, `scope` (space-separated) may hold
 * `presence:admin`. Verification never throws anything but UnauthenticatedError.
 */
import { createHash } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { UnauthenticatedError } from '../errors';
import { isValidId } from '../presence/presence.validation';

export const ADMIN_SCOPE = 'presence:admin';

export interface Viewer {
  userId: string;
  admin: boolean;
  /** When the token stops being valid (epoch ms). */
  expiresAt: number;
}

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Accepts "Bearer <jwt>" or a bare token. */
export function extractToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const trimmed = header.trim();
  const match = /^Bearer\s+(.+)$/i.exec(trimmed);
  const token = match ? match[1].trim() : trimmed;
  return token.length > 0 ? token : null;
}

/**
 * Verified tokens, until they expire: a client sends the same token on every heartbeat,
 * and an HMAC check per request is a measurable share of a heartbeat. Keyed by secret and
 * a SHA-256 of the token (a socket's token is not kept alive for its whole connection, and
 * no bearer token sits in a long-lived map); only successful verifications are kept; bounded.
 */
const verifiedBySecret = new Map<string, Map<string, Viewer>>();
const MAX_CACHED_TOKENS = 10_000;

/** Verifies a token and returns the viewer, or throws UnauthenticatedError. */
export async function verifyToken(token: string | null, secret: string): Promise<Viewer> {
  if (!token) throw new UnauthenticatedError();
  let verified = verifiedBySecret.get(secret);
  if (!verified) verifiedBySecret.set(secret, (verified = new Map()));
  const digest = createHash('sha256').update(token).digest('base64');
  const hit = verified.get(digest);
  if (hit && hit.expiresAt > Date.now()) return hit;
  const viewer = await verifyUncached(token, secret);
  if (verified.size >= MAX_CACHED_TOKENS) verified.clear();
  verified.set(digest, viewer);
  return viewer;
}

async function verifyUncached(token: string, secret: string): Promise<Viewer> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'] }));
  } catch {
    throw new UnauthenticatedError('The bearer token is invalid or expired');
  }
  const sub = payload.sub;
  if (typeof sub !== 'string' || !isValidId(sub)) throw new UnauthenticatedError('The token subject is not a valid user id');
  const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  // Without exp a token never expires; the cache still re-verifies it after an hour.
  const expiresAt = Math.min(typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity, Date.now() + 3_600_000);
  return { userId: sub, admin: scope.includes(ADMIN_SCOPE), expiresAt };
}

/** Signs a token for `userId`, valid for `expiresIn` (a jose duration such as "30d"). */
export async function mintToken(userId: string, secret: string, options: { admin?: boolean; expiresIn?: string } = {}): Promise<string> {
  const jwt = new SignJWT(options.admin ? { scope: ADMIN_SCOPE } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '30d');
  return jwt.sign(key(secret));
}
