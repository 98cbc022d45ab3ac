import { useApolloClient, useFragment, useSubscription } from '@apollo/client/react';
import { useCallback, useState } from 'react';
import {
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
  /** True until the first event (the `INITIAL` snapshot) has arrived. */
  loading: boolean;
  /** Set when the service ended the subscription with an error. */
  error: Error | undefined;
}

/**
 * Follows live presence: `presenceChanged(userIds, initial: true)`.
 *
 * With `userIds` omitted it follows every contact, including contacts added later, and a
 * removed contact leaves the list. With `userIds` it follows those users (ids that are not
 * contacts are ignored by the service and so never appear).
 *
 * Order of events: one `INITIAL` per followed user, then changes. Each event is merged into
 * the Apollo cache by version ({@link mergePresence}): an event whose version is not greater
 * than the cached one is dropped, except `CONTACT_ADDED` / `CONTACT_REMOVED`, which start a
 * new view. The subscription itself runs with `fetchPolicy: 'no-cache'` so that Apollo does
 * not write events unconditionally before the version check sees them.
 */
export function usePresence(userIds?: readonly string[]): UsePresenceResult {
  const client = useApolloClient();
  const [followed, setFollowed] = useState<readonly string[]>([]);
  const [loading, setLoading] = useState(true);
  const followAllContacts = userIds === undefined;

  const applyEvent = useCallback(
    (event: PresenceChangedSubscription['presenceChanged']): void => {
      const { presence, reason } = event;
      mergePresence(client.cache, presence, reason);
      setLoading(false);
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

  const { error } = useSubscription(PresenceChangedDocument, {
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

  return { presences, loading: loading && error === undefined, error };
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
