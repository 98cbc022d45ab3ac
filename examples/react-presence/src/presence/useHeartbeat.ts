import { useApolloClient } from '@apollo/client/react';
import { useEffect } from 'react';
import { HeartbeatDocument } from '../generated/graphql';
import { mergePresence } from './presenceCache';

/** Wait before retrying a heartbeat that failed (network error, RATE_LIMITED…). */
const RETRY_AFTER_FAILURE_SECONDS = 5;

/**
 * Heartbeats this tab's device while the page is visible, and reports it idle when hidden.
 *
 * Order: one heartbeat at mount (idle when the tab starts hidden), then one every
 * `nextHeartbeatInSeconds` (from the previous answer) while visible. On `visibilitychange`
 * to hidden it sends `idle: true` once and stops; back to visible it sends `idle: false` at
 * once and resumes. No timer runs while hidden: browsers throttle hidden tabs' timers anyway,
 * and the open graphql-ws socket (connectionParams.device) keeps the device alive meanwhile.
 *
 * Nothing is sent once the page is being unloaded (`pagehide`): unloading also fires
 * `visibilitychange` to hidden, and an idle heartbeat that reached the service after the
 * socket had closed would keep the device online for a whole TTL instead of the grace period.
 * A page restored from the back/forward cache (`pageshow` with `persisted`) beats again.
 */
export function useHeartbeat(deviceId: string): void {
  const client = useApolloClient();

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let generation = 0;
    let disposed = false;
    let unloading = false;

    const beat = async (idle: boolean): Promise<void> => {
      clearTimeout(timer);
      if (unloading) return;
      // Only the latest beat may schedule the next one: a visibility flip while a beat is in
      // flight must not leave two timers running.
      const mine = ++generation;
      let nextInSeconds = RETRY_AFTER_FAILURE_SECONDS;
      try {
        const { data } = await client.mutate({
          mutation: HeartbeatDocument,
          variables: { device: { id: deviceId, type: 'WEB', idle } },
          fetchPolicy: 'no-cache',
        });
        if (data) {
          mergePresence(client.cache, data.heartbeat.presence);
          nextInSeconds = data.heartbeat.nextHeartbeatInSeconds;
        }
      } catch {
        // Keep the tab usable; the socket keeps the device alive and the next beat retries.
      }
      if (disposed || unloading || mine !== generation || document.visibilityState !== 'visible') return;
      timer = setTimeout(() => void beat(false), nextInSeconds * 1000);
    };

    const onVisibilityChange = (): void => {
      void beat(document.visibilityState !== 'visible');
    };

    const onPageHide = (): void => {
      unloading = true;
      clearTimeout(timer);
    };
    const onPageShow = (event: PageTransitionEvent): void => {
      if (!event.persisted) return;
      unloading = false;
      void beat(document.visibilityState !== 'visible');
    };

    void beat(document.visibilityState !== 'visible');
    document.addEventListener('visibilitychange', onVisibilityChange);
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pageshow', onPageShow);
    return () => {
      disposed = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibilityChange);
      window.removeEventListener('pagehide', onPageHide);
      window.removeEventListener('pageshow', onPageShow);
    };
  }, [client, deviceId]);
}
