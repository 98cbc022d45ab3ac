import type { Fetcher, FetcherOpts, FetcherParams, Observable, Unsubscribable } from '@graphiql/toolkit';
import { GraphQLError, getOperationAST, parse, type DocumentNode, type OperationTypeNode } from 'graphql';
import { createClient, type Client, type ExecutionResult } from 'graphql-ws';

/** Where the presence API listens, as seen from the page that hosts GraphiQL. */
export interface PresenceEndpoints {
  /** Absolute URL for `POST` queries and mutations. */
  httpUrl: string;
  /** Absolute `ws:` / `wss:` URL for graphql-ws (subprotocol `graphql-transport-ws`). */
  wsUrl: string;
}

/** What GraphiQL's fetcher contract expects for each result. */
type PresenceResult = ExecutionResult;

/** A response body as it arrives, over HTTP or graphql-ws, before its parts are checked. */
interface RawResult {
  readonly data?: unknown;
  readonly errors?: unknown;
  readonly extensions?: unknown;
}

/** Close codes the server sends on purpose (4403 bad token, 1009 message too big): retrying cannot help. */
const FINAL_CLOSE_CODES = new Set([1009, 4403]);

/**
 * The endpoints of the server that served this page: GraphiQL is same-origin with the API, so
 * the socket follows the page's scheme (wss behind TLS) and host.
 */
export function sameOriginEndpoints(location: Location): PresenceEndpoints {
  const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    httpUrl: `${location.origin}/graphql`,
    wsUrl: `${wsScheme}//${location.host}/graphql`,
  };
}

/**
 * Builds GraphiQL's fetcher for the presence API.
 *
 * Queries and mutations (and introspection) go over `POST` with the headers from the headers
 * editor. Subscriptions go over graphql-ws, authenticated by `connectionParams.authorization`,
 * because browsers cannot set headers on a WebSocket upgrade. One graphql-ws client exists per
 * distinct Authorization value and is reused, so every subscription run with the same token
 * shares one socket, and changing the token in the editor opens a socket as the new user.
 */
export function createPresenceFetcher(endpoints: PresenceEndpoints): Fetcher {
  const wsClients = new Map<string, Client>();

  const wsClientFor = (authorization: string | undefined): Client => {
    const key = authorization ?? '';
    const existing = wsClients.get(key);
    if (existing) return existing;
    const client = createClient({
      url: endpoints.wsUrl,
      connectionParams: authorization === undefined ? {} : { authorization },
      // graphql-ws retries 4403 by default; here it would only hide a bad token for several seconds.
      shouldRetry: (errOrCloseEvent) => isCloseEvent(errOrCloseEvent) && !FINAL_CLOSE_CODES.has(errOrCloseEvent.code),
    });
    wsClients.set(key, client);
    return client;
  };

  return (params: FetcherParams, opts?: FetcherOpts) => {
    const headers = stringHeaders(opts?.headers);
    if (operationTypeOf(params, opts?.documentAST) === 'subscription') {
      return subscribeOverWebSocket(wsClientFor(findHeader(headers, 'authorization')), params);
    }
    return postOverHttp(endpoints.httpUrl, params, headers);
  };
}

function operationTypeOf(params: FetcherParams, documentAST: DocumentNode | undefined): OperationTypeNode | undefined {
  let document = documentAST;
  if (!document) {
    try {
      document = parse(params.query);
    } catch {
      // Let the server report the syntax error in its own words.
      return undefined;
    }
  }
  return getOperationAST(document, params.operationName ?? undefined)?.operation;
}

async function postOverHttp(url: string, params: FetcherParams, headers: Record<string, string>): Promise<PresenceResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
        ...headers,
      },
      body: JSON.stringify({ query: params.query, operationName: params.operationName ?? undefined, variables: params.variables }),
    });
  } catch (error) {
    // fetch only rejects when no answer came at all (server down, bad header value).
    return errorResult(`Could not reach ${url}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // A proxy or a crashed server may answer HTML; show it rather than a JSON parse error.
    return errorResult(`HTTP ${response.status} ${response.statusText}: ${text.slice(0, 500)}`);
  }
  if (!isRecord(body) || !('data' in body || 'errors' in body)) {
    return errorResult(`HTTP ${response.status}: not a GraphQL response: ${text.slice(0, 500)}`);
  }
  return toPresenceResult(body);
}

/**
 * An Observable rather than an async iterator: GraphiQL's stop button calls `unsubscribe`,
 * which completes the graphql-ws subscription at once, whereas `return()` on an async
 * generator waits for the next event to arrive.
 */
function subscribeOverWebSocket(client: Client, params: FetcherParams): Observable<PresenceResult> {
  const payload = {
    query: params.query,
    operationName: params.operationName ?? undefined,
    variables: isRecord(params.variables) ? params.variables : undefined,
  };
  return new SubscriptionObservable((observer) =>
    client.subscribe(payload, {
      next: (result) => observer.next(toPresenceResult(result)),
      error: (error: unknown) => observer.error(subscriptionFailure(error)),
      complete: () => observer.complete(),
    }),
  );
}

type SubscriptionFailure = { message: string } | readonly unknown[];

interface ResultObserver {
  next(value: PresenceResult): void;
  error(error: SubscriptionFailure): void;
  complete(): void;
}

type NextHandler = (value: PresenceResult) => void;
type ErrorHandler = (error: SubscriptionFailure) => void;

class SubscriptionObservable implements Observable<PresenceResult> {
  constructor(private readonly start: (observer: ResultObserver) => () => void) {}

  subscribe(opts: { next: NextHandler; error: ErrorHandler; complete: () => void }): Unsubscribable;
  subscribe(next: NextHandler, error: null | undefined, complete: () => void): Unsubscribable;
  subscribe(next?: NextHandler, error?: ErrorHandler, complete?: () => void): Unsubscribable;
  subscribe(
    nextOrObserver?: NextHandler | { next: NextHandler; error: ErrorHandler; complete: () => void },
    error?: ErrorHandler | null,
    complete?: () => void,
  ): Unsubscribable {
    const observer: ResultObserver =
      typeof nextOrObserver === 'object'
        ? nextOrObserver
        : { next: nextOrObserver ?? (() => undefined), error: error ?? (() => undefined), complete: complete ?? (() => undefined) };
    const dispose = this.start(observer);
    return { unsubscribe: dispose };
  }
}

function toPresenceResult(body: RawResult): PresenceResult {
  // GraphiQL only pretty-prints results; GraphQLError instances keep its types honest and
  // serialise to the same JSON as the server's formatted errors.
  const errors = Array.isArray(body.errors)
    ? body.errors.map((error: unknown) => toGraphQLError(error))
    : undefined;
  const data = isRecord(body.data) || body.data === null ? body.data : undefined;
  const extensions = isRecord(body.extensions) ? body.extensions : undefined;
  return { data, errors, extensions };
}

function toGraphQLError(error: unknown): GraphQLError {
  if (!isRecord(error)) return new GraphQLError(String(error));
  const message = typeof error.message === 'string' ? error.message : JSON.stringify(error);
  const extensions = isRecord(error.extensions) ? error.extensions : undefined;
  const graphQLError = new GraphQLError(message, { extensions });
  // Keep the server's locations and path as they came, for the response pane.
  return Object.assign(graphQLError, {
    locations: Array.isArray(error.locations) ? error.locations : undefined,
    path: Array.isArray(error.path) ? error.path : undefined,
  });
}

function errorResult(message: string): PresenceResult {
  return { errors: [new GraphQLError(message)] };
}

/**
 * What the response pane shows when a subscription fails. Plain objects, not Errors: GraphiQL
 * prints an Error's stack, which here would only show minified bundle positions.
 */
function subscriptionFailure(error: unknown): SubscriptionFailure {
  // graphql-ws reports an operation's `error` message as the server's list of GraphQL errors.
  if (Array.isArray(error)) return error;
  if (isCloseEvent(error)) {
    const reason = error.reason ? ` ${error.reason}` : '';
    const hint = error.code === 4403 ? ' (check the Authorization header: the token is missing, expired or badly signed)' : '';
    return { message: `Socket closed with ${error.code}${reason}${hint}` };
  }
  if (error instanceof Error) return { message: error.message };
  if (typeof Event !== 'undefined' && error instanceof Event) {
    return { message: 'Could not open the WebSocket to /graphql (is the server running?)' };
  }
  return { message: String(error) };
}

function stringHeaders(headers: FetcherOpts['headers']): Record<string, string> {
  const result: Record<string, string> = {};
  if (!isRecord(headers)) return result;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') result[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') result[name] = String(value);
  }
  return result;
}

function findHeader(headers: Record<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

interface CloseEventLike {
  code: number;
  reason: string;
}

function isCloseEvent(value: unknown): value is CloseEventLike {
  return isRecord(value) && typeof value.code === 'number' && typeof value.reason === 'string';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
