import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';

/** What the graphql-ws socket is doing, for the header badge (and the browser test). */
export type SocketState = 'connecting' | 'live' | 'reconnecting' | 'rejected';

/** One signed-in tab: an Apollo client over a split link, and the socket under it. */
export interface PresenceSession {
  readonly client: ApolloClient;
  readonly deviceId: string;
  /** Current socket state; `subscribeSocketState` tells when it changes. */
  socketState(): SocketState;
  /** Calls `listener` on every socket state change; returns the unsubscribe function. */
  subscribeSocketState(listener: () => void): () => void;
  /** Closes the socket (the service then takes this device offline after its grace period). */
  dispose(): void;
}

/** Options for {@link createPresenceSession}. */
export interface PresenceSessionOptions {
  /** The JWT, without the `Bearer ` prefix. */
  token: string;
  /** This tab's device id (see deviceId.ts). */
  deviceId: string;
  /** Called once when the service refuses the token (socket closed with 4403). */
  onRejected: () => void;
}

/** graphql-ws close code the service uses for a missing, expired or badly signed token. */
const FORBIDDEN_CLOSE_CODE = 4403;

function isCloseEventWithCode(value: unknown, code: number): boolean {
  return typeof value === 'object' && value !== null && 'code' in value && value.code === code;
}

/**
 * Creates the Apollo client for one token and device.
 *
 * Queries and mutations go over HTTP (`POST /graphql` with `Authorization: Bearer`), and
 * subscriptions over graphql-ws on the same path; the `split` link routes by operation type.
 * The socket opens eagerly (`lazy: false`) and carries `connectionParams.device`, which makes
 * this tab a live device for as long as the socket is open, whether or not a subscription
 * is running; heartbeats (useHeartbeat) add the idle flag on top.
 */
export function createPresenceSession(options: PresenceSessionOptions): PresenceSession {
  const { token, deviceId, onRejected } = options;
  let state: SocketState = 'connecting';
  const listeners = new Set<() => void>();
  const setState = (next: SocketState): void => {
    if (state === next) return;
    state = next;
    for (const listener of listeners) listener();
  };

  const wsUrl = new URL('/graphql', window.location.href);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  const wsClient: WsClient = createClient({
    url: wsUrl.toString(),
    lazy: false,
    connectionParams: { authorization: `Bearer ${token}`, device: { id: deviceId, type: 'WEB' } },
    // A presence socket should come back after any blip, however long; graphql-ws backs off
    // with jitter between attempts. A refused token is final: retrying cannot fix it.
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (errOrCloseEvent) => !isCloseEventWithCode(errOrCloseEvent, FORBIDDEN_CLOSE_CODE),
    on: {
      connecting: (isRetry) => setState(isRetry ? 'reconnecting' : 'connecting'),
      connected: () => setState('live'),
      closed: (event) => {
        if (isCloseEventWithCode(event, FORBIDDEN_CLOSE_CODE)) {
          setState('rejected');
          onRejected();
        } else if (state !== 'rejected') {
          setState('reconnecting');
        }
      },
    },
  });

  const link = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(wsClient),
    new HttpLink({ uri: '/graphql', headers: { authorization: `Bearer ${token}` } }),
  );

  const cache = new InMemoryCache({
    typePolicies: {
      // A Presence has no `id`; `userId` identifies it, so every operation that returns one
      // updates the same cache entry.
      Presence: { keyFields: ['userId'] },
      // Device ids are chosen by clients and unique only per user ("default" is common), so
      // a Device must stay embedded in its user's Presence instead of being normalized by id.
      Device: { keyFields: false },
    },
  });

  const client = new ApolloClient({ link, cache });

  return {
    client,
    deviceId,
    socketState: () => state,
    subscribeSocketState: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    dispose: () => {
      listeners.clear();
      client.stop();
      void wsClient.dispose();
    },
  };
}
