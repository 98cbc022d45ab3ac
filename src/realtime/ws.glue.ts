/**
 * graphql-ws's protocol server (`makeServer`) bound to `ws` sockets. It replaces
 * graphql-ws/use/ws for two reasons measured by the benchmark: the upgrade request is not
 * kept for the socket's lifetime (we check it at upgrade time only), and an event is
 * handed to the socket without waiting for its write callback (one promise less per event
 * per subscriber). Slow consumers are cut off instead of buffering without bound. Once a
 * socket is acknowledged, its `subscribe` messages are handled by ws.subscribe.ts rather
 * than by `makeServer` (no suspended handler per running subscription).
 *
 * Per socket, in order: protocol check → `makeServer().opened` → messages → keep-alive
 * pings every `keepAliveMs` (no pong by the next ping: terminate) → close.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { getOperationAST } from 'graphql';
import { CloseCode, Context, MessageType, ServerOptions, SubscribeMessage, handleProtocols, makeServer, parseMessage } from 'graphql-ws';
import type { Logger } from 'pino';
import type { Viewer } from '../auth/token';
import { corkForThisTick, holdForThisTurn } from '../cork';
import type { LiveConnection } from '../liveness/connections';
import { SubscribeSocket, handleSubscribe } from './ws.subscribe';
import * as wsModule from 'ws';
import { RawData, WebSocket, WebSocketServer } from 'ws';

/** What operations see as `ctx.extra`. */
export interface SocketExtra {
  socket: WebSocket;
  /** The TCP socket under `socket`: complete frames shared by many receivers are written here (sendFrame). */
  wire: Duplex;
  /** Who signed in (set once connection_init is accepted). */
  viewer?: Viewer;
  /** The socket's device, if it announced one. */
  connection?: LiveConnection | null;
  /**
   * The glue's side of this socket, set by the glue: it counts the socket's running queries
   * and mutations (see OPERATIONS_PER_SOCKET) and handles its `subscribe` messages.
   */
  operations?: GraphqlWsSocket;
}

/** Counts a socket's running queries and mutations; see OPERATIONS_PER_SOCKET. */
interface OperationSlots {
  /** A query or mutation of this socket starts executing. */
  begin(): void;
  /** It has its result. */
  end(): void;
}

/**
 * Queries and mutations one socket may have executing at once. Further messages wait,
 * unread, in the socket's TCP buffers (and the client's) until one finishes: a client
 * that sends faster than the node can work gets backpressure instead of a backlog in this
 * process's heap, which would slow every other socket down long after the burst.
 * Subscriptions do not count; other messages wait only to keep their order.
 */
export const OPERATIONS_PER_SOCKET = 4;

/** Bytes a socket may have queued before the server gives up on it (close 1013, try again later). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Keep-alive runs over the sockets in this many groups, one group per tick: pings go out
 * a few at a time (a burst of thousands would hold up events), and no socket needs a
 * timer of its own.
 */
const KEEP_ALIVE_GROUPS = 16;

/** How long a socket may take to send an accepted connection_init (graphql-ws's default; then 4408). */
const DEFAULT_INIT_WAIT_MS = 3_000;
/** How often sockets still waiting for connection_init are checked: the wait ends within this much of its deadline. */
const INIT_SWEEP_MS = 250;

/** graphql-transport-ws messages are text frames (browsers hand binary ones over as Blobs). */
const TEXT_FRAME = { binary: false } as const;

/**
 * Whether `socket` takes another message: false when it is not open or its peer has fallen
 * more than MAX_BUFFERED_BYTES behind (then it is closed: 1013, try again later).
 */
function acceptsMore(socket: WebSocket): boolean {
  if (socket.readyState !== WebSocket.OPEN) return false;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    socket.close(1013, 'Consumer too slow');
    return false;
  }
  return true;
}

/** Sends one graphql-ws message as a text frame; false when the socket does not accept more (acceptsMore). */
function sendMessage(socket: WebSocket, data: string): boolean {
  if (!acceptsMore(socket)) return false;
  socket.send(data, TEXT_FRAME);
  return true;
}

/** ws's own framing (exported as `Sender`, not declared in @types/ws). */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } };
const SERVER_TEXT_FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

/**
 * One graphql-ws message as a complete WebSocket text frame (header and payload in one
 * Buffer). A server's frames are not masked, so one frame serves every receiver of it.
 */
export function textFrame(message: string): Buffer {
  return Buffer.concat(Sender.frame(Buffer.from(message), SERVER_TEXT_FRAME));
}

/**
 * Writes a frame made by textFrame straight to the TCP socket under `socket`: no header +
 * payload writev as ws's send makes, and nothing allocated per receiver. The socket is held
 * for the rest of the loop's turn (holdForThisTurn): the frames it gets from all the
 * messages handled in that turn leave in one syscall, which matters most when the node is
 * behind (measured at 38k events/s: 15 % fewer syscalls, 6 % less CPU per frame). Frames
 * stay whole and in order with ws's own sends, which go through the same stream (this
 * server has no compression). Refused like sendMessage.
 */
export function sendFrame(socket: WebSocket, wire: Duplex, frame: Buffer): boolean {
  if (!acceptsMore(socket)) return false;
  holdForThisTurn(wire);
  wire.write(frame);
  return true;
}

/** What the server reports, for metrics. */
export interface SocketEvents {
  /** A socket stopped being read because OPERATIONS_PER_SOCKET of its operations are running. */
  readsPaused?(): void;
  /** A socket connected. */
  opened?(): void;
  /** A socket closed. */
  closed?(): void;
}

/** What the sockets of one server share. */
interface GlueShared {
  /** The options `makeServer` got (operations counted); `subscribe` messages are handled with them here. */
  options: Options;
  logger: Logger;
  events: SocketEvents;
}

/**
 * The `subscribe` message in `data`, or null for any other message (or one that does not
 * parse: `makeServer` answers that one, with 4400).
 */
function subscribeMessageIn(data: string): SubscribeMessage | null {
  try {
    const message = parseMessage(data);
    return message.type === MessageType.Subscribe ? message : null;
  } catch {
    return null;
  }
}

/**
 * The socket as graphql-ws's `makeServer` drives it (methods, not a closure each). Once the
 * connection is acknowledged, `subscribe` messages are handled by `handleSubscribe`, every
 * other message by `makeServer`.
 */
export class GraphqlWsSocket implements OperationSlots, SubscribeSocket {
  readonly protocol: string;
  private handler: ((data: string) => Promise<void>) | null = null;
  /** graphql-ws's context for this socket, known from connection_init on. */
  context: Context<Record<string, unknown> | undefined, SocketExtra> | null = null;
  /** Queries and mutations executing (begin/end, from the operation hooks). */
  private running = 0;
  /** Messages received while OPERATIONS_PER_SOCKET were running, in order; null when none. */
  private held: string[] | null = null;

  constructor(
    private readonly extra: SocketExtra,
    private readonly shared: GlueShared,
  ) {
    this.protocol = extra.socket.protocol;
    extra.operations = this;
  }

  begin(): void {
    this.running++;
  }

  end(): void {
    this.running--;
    const held = this.held;
    if (!held) return;
    while (held.length > 0 && this.running < OPERATIONS_PER_SOCKET) this.dispatch(held.shift() as string);
    if (held.length > 0) return;
    this.held = null;
    this.extra.socket.resume();
  }

  send(data: string): void {
    corkForThisTick(this.extra.wire);
    sendMessage(this.extra.socket, data);
  }

  close(code: number, reason: string): void {
    this.extra.socket.close(code, reason);
  }

  onMessage(cb: (data: string) => Promise<void>): void {
    this.handler = cb;
    this.extra.socket.on('message', (data: RawData) => {
      if (this.held) this.held.push(String(data));
      else if (this.running < OPERATIONS_PER_SOCKET) this.dispatch(String(data));
      else {
        // Stop reading; frames already read still arrive, and wait here until end().
        this.held = [String(data)];
        this.extra.socket.pause();
        this.shared.events.readsPaused?.();
      }
    });
  }

  /** Handles one message; `begin` is called (synchronously) if it starts a query or mutation. */
  private dispatch(data: string): void {
    const context = this.context;
    const subscribe = context?.acknowledged ? subscribeMessageIn(data) : null;
    const handled = subscribe ? handleSubscribe(this.shared.options, this, context as NonNullable<typeof context>, subscribe) : (this.handler as (data: string) => Promise<void>)(data);
    handled.catch((error: unknown) => this.failed(error));
  }

  failed(error: unknown): void {
    this.shared.logger.error({ err: error }, 'graphql-ws message handling failed');
    this.extra.socket.close(CloseCode.InternalServerError, 'Internal server error');
  }
}

type Options = ServerOptions<Record<string, unknown> | undefined, SocketExtra>;
type SubscribeResult = ReturnType<NonNullable<Options['onSubscribe']>>;

/** Marks execution arguments counted by `begin`: graphql-ws hands the same object to `onOperation`. */
const COUNTED = Symbol('counted against OPERATIONS_PER_SOCKET');
type Counted = { [COUNTED]?: true };

/**
 * `options` with each query and mutation counted against its socket's OPERATIONS_PER_SOCKET:
 * from an `onSubscribe` that returns execution arguments (the operation starts) to
 * `onOperation` (it has its result). An `onSubscribe` that returns nothing leaves
 * graphql-ws to parse the operation itself, uncounted.
 */
function countingOperations(options: Options): Options {
  const { onSubscribe, onOperation } = options;
  const begin = (extra: SocketExtra, result: Awaited<SubscribeResult>): void => {
    if (!result || Array.isArray(result)) return;
    const args = result as Exclude<typeof result, readonly unknown[] | void>;
    if (getOperationAST(args.document, args.operationName)?.operation === 'subscription') return;
    (args as Counted)[COUNTED] = true;
    extra.operations?.begin();
  };
  return {
    ...options,
    onSubscribe: (ctx, id, payload) => {
      const result = onSubscribe?.(ctx, id, payload);
      // graphql-ws calls this as it reads the message: counted at once, a synchronous hook keeps the bound exact.
      if (result instanceof Promise) return result.then((r) => (begin(ctx.extra, r), r));
      begin(ctx.extra, result);
      return result;
    },
    onOperation: (ctx, id, payload, args, result) => {
      if ((args as Counted)[COUNTED]) ctx.extra.operations?.end();
      return onOperation?.(ctx, id, payload, args, result);
    },
  };
}

/**
 * Serves graphql-ws on `wss`, with `events` for metrics. The glue keeps its own set of
 * sockets (for keep-alive and `dispose`): `wss` can be made with `clientTracking: false`,
 * which spares every socket a Set entry and a close listener.
 */
export function serveGraphqlWs(
  options: Options,
  wss: WebSocketServer,
  logger: Logger,
  keepAliveMs: number,
  events: SocketEvents = {},
): { dispose(): Promise<void> } {
  // graphql-ws would keep a timer (and its closure) per socket for the whole connection
  // just to enforce the init wait; one sweep over the sockets not yet acknowledged does it.
  const counted = countingOperations(options);
  const server = makeServer({
    ...counted,
    connectionInitWaitTimeout: Infinity,
    onConnect: (ctx) => {
      if (ctx.extra.operations) ctx.extra.operations.context = ctx;
      return options.onConnect?.(ctx);
    },
  });
  const shared: GlueShared = { options: counted, logger, events };
  const initWaitMs = options.connectionInitWaitTimeout ?? DEFAULT_INIT_WAIT_MS;
  /** As in graphql-ws: a wait of 0, below or Infinity means none. */
  const initWaitEnforced = initWaitMs > 0 && Number.isFinite(initWaitMs);
  /** Sockets whose connection_init has not been accepted yet, by when they must have been. */
  const awaitingInit = new Map<WebSocket, { extra: SocketExtra; deadline: number }>();
  const initSweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, { extra, deadline }] of awaitingInit) {
      if (extra.viewer) awaitingInit.delete(socket);
      else if (now >= deadline) {
        awaitingInit.delete(socket);
        socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
      }
    }
  }, INIT_SWEEP_MS);
  initSweep.unref();
  wss.options.handleProtocols = handleProtocols;
  /** Close handling still running (onClose: a device's grace period is being recorded). */
  const closing = new Set<Promise<void>>();

  const groups = Array.from({ length: KEEP_ALIVE_GROUPS }, () => new Set<WebSocket>());
  /** Sockets that answered the last ping (new sockets count as having answered). */
  const answered = new WeakSet<WebSocket>();
  let nextGroup = 0;
  let joined = 0;
  const keepAlive = setInterval(() => {
    const group = groups[nextGroup] as Set<WebSocket>;
    nextGroup = (nextGroup + 1) % KEEP_ALIVE_GROUPS;
    for (const socket of group) {
      if (!answered.delete(socket)) {
        socket.terminate(); // no pong since the last ping: the peer is gone
        continue;
      }
      socket.ping();
    }
  }, keepAliveMs / KEEP_ALIVE_GROUPS);
  keepAlive.unref();
  function onPong(this: WebSocket): void {
    answered.add(this);
  }
  function onError(this: WebSocket, error: Error): void {
    logger.warn({ err: error }, 'websocket error');
    this.terminate();
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    events.opened?.();
    socket.on('error', onError);
    socket.on('pong', onPong);
    answered.add(socket);
    const group = groups[joined++ % KEEP_ALIVE_GROUPS] as Set<WebSocket>;
    group.add(socket);
    const extra: SocketExtra = { socket, wire: request.socket, viewer: undefined, connection: null };
    if (initWaitEnforced) awaitingInit.set(socket, { extra, deadline: Date.now() + initWaitMs });
    const closed = server.opened(new GraphqlWsSocket(extra, shared), extra);
    socket.on('close', (code, reason) => {
      events.closed?.();
      group.delete(socket);
      awaitingInit.delete(socket);
      const done = closed(code, String(reason)).catch((error: unknown) => logger.error({ err: error }, 'socket close handling failed'));
      closing.add(done);
      void done.finally(() => closing.delete(done));
    });
  });
  return {
    /** Closes every socket (1001), waits for their close handling, then stops the server. */
    async dispose() {
      const sockets = groups.flatMap((group) => [...group]);
      const gone = sockets.map((client) => new Promise<void>((resolve) => (client.readyState === WebSocket.CLOSED ? resolve() : client.once('close', () => resolve()))));
      for (const client of sockets) client.close(1001, 'Going away');
      // A peer that never answers the close frame is cut off after a short wait.
      const cutoff = setTimeout(() => sockets.forEach((client) => client.terminate()), 2000);
      await Promise.all(gone);
      clearTimeout(cutoff);
      await Promise.all([...closing]);
      clearInterval(keepAlive);
      clearInterval(initSweep);
      wss.removeAllListeners('connection');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
