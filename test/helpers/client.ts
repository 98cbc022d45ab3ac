/**
 * Real clients: GraphQL over HTTP with fetch, and graphql-ws over ws. Subscriptions
 * collect events into an array with a bounded wait helper.
 */
import { Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { mintToken } from '../../src/auth/token';
import { TEST_SECRET } from './server';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export function token(userId: string, admin = false, secret = TEST_SECRET): Promise<string> {
  return mintToken(userId, secret, { admin });
}

/** A GraphQL POST; `auth` is a user id (a token is minted), a raw header value, or null. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  auth: { user?: string; admin?: boolean; header?: string } | null = null,
): Promise<GqlResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth?.header !== undefined) headers.authorization = auth.header;
  else if (auth?.user) headers.authorization = `Bearer ${await token(auth.user, auth.admin)}`;
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as GqlResponse<T>;
  return { ...body, status: res.status };
}

/** An HTTP client bound to one user. */
export function userClient(url: string, user: string, admin = false) {
  return <T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}) => gql<T>(url, query, variables, { user, admin });
}

export interface WsHandle {
  client: Client;
  closed: Promise<{ code: number; reason: string }>;
  dispose(): Promise<void>;
}

/** A graphql-ws client; `params` become connectionParams (authorization is added from `user`). */
export async function wsClient(
  wsUrl: string,
  user: string | null,
  params: Record<string, unknown> = {},
  options: { lazy?: boolean; retryAttempts?: number } = {},
): Promise<WsHandle> {
  const authorization = user ? `Bearer ${await token(user)}` : undefined;
  let resolveClosed: (v: { code: number; reason: string }) => void = () => undefined;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: options.lazy ?? false,
    retryAttempts: options.retryAttempts ?? 0,
    connectionParams: { ...(authorization ? { authorization } : {}), ...params },
    on: { closed: (e) => resolveClosed({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') }) },
    onNonLazyError: () => undefined,
  });
  return {
    client,
    closed,
    dispose: async () => {
      await client.dispose();
    },
  };
}

export interface EventLike {
  reason: string;
  previousStatus: string;
  at: string;
  presence: { userId: string; status: string; version: number; customStatus: string | null; lastSeenAt: string | null; since: string | null; devices: Array<{ id: string; status: string }> };
}

export const EVENT_FIELDS = `reason previousStatus at presence { userId status version customStatus lastSeenAt since devices { id status } }`;

export interface Subscription {
  events: EventLike[];
  errors: unknown[];
  /** Waits until `predicate` holds over the events (bounded), then returns them. */
  waitFor(predicate: (events: EventLike[]) => boolean, timeoutMs?: number): Promise<EventLike[]>;
  /** Waits until at least n events arrived. */
  waitForCount(n: number, timeoutMs?: number): Promise<EventLike[]>;
  /** Resolves once the server acknowledged the subscription by sending its first event, or after `settleMs`. */
  settle(settleMs?: number): Promise<void>;
  stop(): void;
  done: Promise<void>;
}

export function subscribe(handle: WsHandle, variables: { userIds?: string[] | null; initial?: boolean } = {}, fields = EVENT_FIELDS): Subscription {
  const events: EventLike[] = [];
  const errors: unknown[] = [];
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  const stop = handle.client.subscribe<{ presenceChanged: EventLike }>(
    {
      query: `subscription($userIds: [ID!], $initial: Boolean!) { presenceChanged(userIds: $userIds, initial: $initial) { ${fields} } }`,
      variables: { userIds: variables.userIds ?? null, initial: variables.initial ?? false },
    },
    {
      next: (r) => {
        if (r.data) events.push(r.data.presenceChanged);
        if (r.errors) errors.push(...r.errors);
      },
      error: (e) => {
        errors.push(e);
        finish();
      },
      complete: () => finish(),
    },
  );
  const waitFor = async (predicate: (e: EventLike[]) => boolean, timeoutMs = 5000): Promise<EventLike[]> => {
    const start = Date.now();
    while (!predicate(events)) {
      if (Date.now() - start > timeoutMs) {
        throw new Error(`timed out; got ${JSON.stringify(events.map((e) => [e.presence.userId, e.reason, e.presence.status, e.presence.version]))} errors ${JSON.stringify(errors)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return events;
  };
  return {
    events,
    errors,
    waitFor,
    waitForCount: (n, t) => waitFor((e) => e.length >= n, t),
    settle: (ms = 300) => new Promise((r) => setTimeout(r, ms)),
    stop,
    done,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
