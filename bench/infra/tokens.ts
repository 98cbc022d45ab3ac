/** HS256 tokens for bench users, signed like `npm run token` does. */
import { SignJWT } from 'jose';

/**
 * Signs a token whose `sub` is `userId`, valid for three hours; `admin` adds the
 * `presence:admin` scope that the contact mutations require.
 */
export async function mintToken(secret: string, userId: string, admin = false): Promise<string> {
  const claims = admin ? { scope: 'presence:admin' } : {};
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('3h')
    .sign(new TextEncoder().encode(secret));
}
