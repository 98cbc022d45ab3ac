import { useApolloClient, useFragment, useSubscription } from '@apollo/client/react';
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ContactsDocument,
  PresenceChangedDocument,
  PresenceFieldsFragmentDoc,
  type PresenceChangedSubscription,
  type PresenceFieldsFragment,
} from '../generated/graphql';
import { mergePresence, presenceRef } from './presenceCache';

/** What {@link usePresence} returns. */
export interface UsePresenceResult {
  /** The followed users' presence as this viewer sees it, in follow order, from the cache. */
  presences: PresenceFieldsFragment[];
  /** True until the first snapshot (the contacts query or the first event) has arrived. */
  loading: boolean;
  /** Set when the service ended the subscription, or the contacts query failed, with an error. */
  error: Error | undefined;
}

/**
 * Follows live presence: `presenceChanged(userIds, initial: true)`.
 *
 * With `userIds` omitted it follows every contact, including contacts added later, and a
 * removed contact leaves the list; a `contacts` query seeds the list so that "no contacts"
 * shows as such (the subscription sends nothing at all then). With `userIds` it follows those
 * users; ids that are not contacts are ignored by the service and so never appear.
 *
 * Order of events: one `INITIAL` per followed user, then changes. Each event is merged into
 * the Apollo cache by version ({@link mergePresence}): an event whose version is not greater
 * than the cached one is dropped, except `CONTACT_ADDED` / `CONTACT_REMOVED`, which start a
 * new view. The subscription and the query run with `fetchPolicy: 'no-cache'` so that Apollo
 * does not write their results unconditionally before the version check sees them.
 */
export function usePresence(userIds?: readonly string[]): UsePresenceResult {
  const client = useApolloClient();
  const [followed, setFollowed] = useState<readonly string[]>([]);
  const [loading, setLoading] = useState(true);
  const [queryError, setQueryError] = useState<Error | undefined>(undefined);
  // Users an event removed: a contacts query answer that was in flight meanwhile must not
  // bring them back.
  const removedByEvent = useRef(new Set<string>());
  const followAllContacts = userIds === undefined;

  const applyEvent = useCallback(
    (event: PresenceChangedSubscription['presenceChanged']): void => {
      const { presence, reason } = event;
      mergePresence(client.cache, presence, reason);
      setLoading(false);
      if (reason === 'CONTACT_REMOVED') removedByEvent.current.add(presence.userId);
      else removedByEvent.current.delete(presence.userId);
      setFollowed((current) => {
        const known = current.includes(presence.userId);
        // A removed contact is out of an all-contacts list; an explicitly requested user
        // stays listed, shown as the stranger view (OFFLINE) the service just sent.
        if (reason === 'CONTACT_REMOVED' && followAllContacts) {
          return known ? current.filter((id) => id !== presence.userId) : current;
        }
        return known ? current : [...current, presence.userId];
      });
    },
    [client, followAllContacts],
  );

  useEffect(() => {
    if (!followAllContacts) return undefined;
    let cancelled = false;
    client
      .query({ query: ContactsDocument, fetchPolicy: 'no-cache' })
      .then(({ data }) => {
        if (cancelled || !data) return;
        const seeded = data.contacts.filter((p) => !removedByEvent.current.has(p.userId));
        for (const presence of seeded) mergePresence(client.cache, presence);
        setFollowed((current) => [...current, ...seeded.map((p) => p.userId).filter((id) => !current.includes(id))]);
        setLoading(false);
      })
      .catch((err: unknown) => {
        if (!cancelled) setQueryError(err instanceof Error ? err : new Error(String(err)));
      });
    return () => {
      cancelled = true;
    };
  }, [client, followAllContacts]);

  const { error: subscriptionError } = useSubscription(PresenceChangedDocument, {
    // Omitted (not null) when following all contacts: "omitting userIds" is what asks the
    // service for every contact, including ones added later.
    variables: userIds === undefined ? { initial: true } : { userIds: [...userIds], initial: true },
    fetchPolicy: 'no-cache',
    onData: ({ data }) => {
      if (data.data) applyEvent(data.data.presenceChanged);
    },
  });

  const { data } = useFragment({
    fragment: PresenceFieldsFragmentDoc,
    from: followed.map(presenceRef),
  });
  // Entries are only ever written whole (mergePresence), so a partial one is an entry not
  // written yet; it is left out rather than shown half-empty.
  const presences: PresenceFieldsFragment[] = [];
  for (const entry of data) if (isWholePresence(entry)) presences.push(entry);

  const error = subscriptionError ?? queryError;
  const nothingToWaitFor = userIds !== undefined && userIds.length === 0;
  return { presences, loading: loading && error === undefined && !nothingToWaitFor, error };
}

function isWholePresence(entry: unknown): entry is PresenceFieldsFragment {
  return (
    typeof entry === 'object' &&
    entry !== null &&
    'userId' in entry &&
    typeof entry.userId === 'string' &&
    'version' in entry &&
    typeof entry.version === 'number'
  );
}
