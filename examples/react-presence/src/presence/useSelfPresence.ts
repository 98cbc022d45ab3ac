import { useApolloClient, useFragment } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { MeDocument, PresenceFieldsFragmentDoc, type PresenceFieldsFragment } from '../generated/graphql';
import { mergePresence, presenceRef } from './presenceCache';

/** What {@link useSelfPresence} returns. */
export interface UseSelfPresenceResult {
  /** The signed-in user's own presence (INVISIBLE shows as INVISIBLE here), once known. */
  me: PresenceFieldsFragment | undefined;
  error: Error | undefined;
}

/**
 * The signed-in user's presence: fetched once with `me`, then kept current by the heartbeat
 * and setStatus results, which all pass the same version check as subscription events
 * (a slow `me` response must not undo a newer heartbeat result).
 */
export function useSelfPresence(): UseSelfPresenceResult {
  const client = useApolloClient();
  const [userId, setUserId] = useState<string | null>(null);
  const [error, setError] = useState<Error | undefined>(undefined);

  useEffect(() => {
    let cancelled = false;
    client
      .query({ query: MeDocument, fetchPolicy: 'no-cache' })
      .then(({ data }) => {
        if (cancelled || !data) return;
        mergePresence(client.cache, data.me);
        setUserId(data.me.userId);
      })
      .catch((err: unknown) => {
        if (!cancelled) setError(err instanceof Error ? err : new Error(String(err)));
      });
    return () => {
      cancelled = true;
    };
  }, [client]);

  const { data, complete } = useFragment({
    fragment: PresenceFieldsFragmentDoc,
    from: userId === null ? null : presenceRef(userId),
  });
  return { me: complete ? data : undefined, error };
}
