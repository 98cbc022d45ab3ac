import type { ApolloCache } from '@apollo/client';
import {
  PresenceFieldsFragmentDoc,
  type PresenceChangeReason,
  type PresenceFieldsFragment,
} from '../generated/graphql';

/**
 * Reasons that start a new view of a user (PRESENCE.md, "Events"): the stranger view is
 * version 0 and a new contact view may carry any version, so these apply whatever the
 * version of the view they replace.
 */
const VIEW_RESETTING_REASONS: ReadonlySet<PresenceChangeReason> = new Set<PresenceChangeReason>([
  'CONTACT_ADDED',
  'CONTACT_REMOVED',
]);

/**
 * Decides whether an incoming presence replaces the cached one.
 *
 * A presence applies when nothing is cached yet, when it starts a new view
 * (`CONTACT_ADDED` / `CONTACT_REMOVED`), or when its version is strictly greater than the
 * cached version. Everything else is a duplicate or arrived out of order and is dropped,
 * which is what makes retries, a resubscription's `INITIAL` snapshot and racing HTTP
 * responses harmless.
 */
export function shouldApplyPresence(
  cachedVersion: number | undefined,
  incomingVersion: number,
  reason?: PresenceChangeReason,
): boolean {
  if (cachedVersion === undefined) return true;
  if (reason !== undefined && VIEW_RESETTING_REASONS.has(reason)) return true;
  return incomingVersion > cachedVersion;
}

/** The cache id of a user's presence (Presence is keyed by `userId`, see apolloClient.ts). */
export function presenceRef(userId: string): { __typename: 'Presence'; userId: string } {
  return { __typename: 'Presence', userId };
}

/**
 * Writes `presence` into the normalized cache if {@link shouldApplyPresence} allows it, and
 * returns whether it did. Every Presence the app receives (subscription events, the `me`
 * query, heartbeat and setStatus results) goes through here, so a late HTTP response can
 * never overwrite a newer event. Components read presences back with `useFragment`, which
 * re-renders them on each applied write.
 */
export function mergePresence(
  cache: ApolloCache,
  presence: PresenceFieldsFragment,
  reason?: PresenceChangeReason,
): boolean {
  const cached = cache.readFragment({
    fragment: PresenceFieldsFragmentDoc,
    from: presenceRef(presence.userId),
  });
  if (!shouldApplyPresence(cached?.version, presence.version, reason)) return false;
  cache.writeFragment({
    fragment: PresenceFieldsFragmentDoc,
    from: presenceRef(presence.userId),
    data: presence,
  });
  return true;
}
