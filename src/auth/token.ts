/**
 * HS256 bearer tokens: `sub` is the user id, `scope` (space-separated) may hold
 * `presence:admin`. Verification never throws anything but UnauthenticatedError.
 */
import { SignJWT, jwtVerify } from 'jose';
import { UnauthenticatedError } from '../errors';
import { isValidId } from '../presence/presence.validation';

export const ADMIN_SCOPE = 'presence:admin';

export interface Viewer {
  userId: string;
  admin: boolean;
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

/** Verifies a token and returns the viewer, or throws UnauthenticatedError. */
export async function verifyToken(token: string | null, secret: string): Promise<Viewer> {
  if (!token) throw new UnauthenticatedError();
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'] }));
  } catch {
    throw new UnauthenticatedError('The bearer token is invalid or expired');
  }
  const sub = payload.sub;
  if (typeof sub !== 'string' || !isValidId(sub)) throw new UnauthenticatedError('The token subject is not a valid user id');
  const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  return { userId: sub, admin: scope.includes(ADMIN_SCOPE) };
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
