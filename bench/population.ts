/**
 * Who takes part in a run. Subscribers form a ring lattice: user i's contacts are the 20
 * users i±1..i±10 (mod S), so every user has exactly 20 mutual contacts and every status
 * change fans out to exactly 20 subscribers, for the service and the baseline alike.
 */
import http from 'node:http';
import { ErrorSample, forEachWithLimit } from './infra/concurrency';
import { graphqlBody, isGraphqlSuccess, postGraphql } from './infra/graphql-http';
import { mintToken } from './infra/tokens';
import type { BenchUser } from './load/protocol';
import { SET_CONTACTS_DOCUMENT } from './load/wire';

/** Contacts per subscriber (issue 6: each with 20 contacts). */
export const CONTACTS_PER_USER = 20;

/** Id of main-population user `index`. */
export function subscriberId(index: number): string {
  return `u${index}`;
}

/** The ring-lattice contact list of user `index` among `total` users. */
export function latticeContacts(index: number, total: number): string[] {
  const contacts = new Set<string>();
  const half = CONTACTS_PER_USER / 2;
  for (let d = 1; d <= half; d += 1) {
    contacts.add(subscriberId((index + d) % total));
    contacts.add(subscriberId((index - d + total) % total));
  }
  contacts.delete(subscriberId(index));
  return [...contacts];
}

/** Indices of `count` publishers spread evenly over `total` users. */
export function publisherIndices(total: number, count: number): number[] {
  const stride = total / count;
  return Array.from({ length: count }, (_, i) => Math.floor(i * stride));
}

/** Mints tokens for `ids` (HS256, like `npm run token`). */
export async function benchUsers(secret: string, ids: readonly string[]): Promise<BenchUser[]> {
  return Promise.all(ids.map(async (userId) => ({ userId, token: await mintToken(secret, userId) })));
}

/**
 * Sends `setContacts(userId, contactIds)` for every entry through the admin mutation over
 * HTTP, `concurrency` at a time. Throws with the first errors when any call fails.
 */
export async function applyContacts(
  graphqlUrl: string,
  adminToken: string,
  entries: ReadonlyArray<readonly [string, readonly string[]]>,
  concurrency = 16,
): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const failures = new ErrorSample();
  await forEachWithLimit(entries, concurrency, async ([userId, contactIds]) => {
    try {
      const answer = await postGraphql(
        graphqlUrl,
        adminToken,
        graphqlBody('Contacts', SET_CONTACTS_DOCUMENT, { u: userId, c: contactIds }),
        agent,
        30_000,
      );
      if (!isGraphqlSuccess(answer)) failures.add(new Error(`setContacts(${userId}) ${answer.status}: ${answer.body.slice(0, 300)}`));
    } catch (error) {
      failures.add(error);
    }
  });
  agent.destroy();
  if (failures.count > 0) {
    const count = failures.count;
    throw new Error(`${count} of ${entries.length} setContacts calls failed: ${failures.drain().join(' | ')}`);
  }
}
