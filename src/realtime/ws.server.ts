/**
 * graphql-ws on the HTTP server's `/graphql` path. Order per socket: upgrade (Origin
 * check) → connection_init (token check, else 4403; optional device goes online) →
 * operations (each with its own context) → close (the device gets its grace period).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { DocumentNode, GraphQLError, GraphQLSchema, parse, specifiedRules, validate, getOperationAST, ExecutionResult } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { Viewer, extractToken, verifyToken } from '../auth/token';
import { Config } from '../config';
import { contextFor } from '../context';
import { PUBLIC_CODES } from '../errors';
import { createCompiledExecutor } from '../graphql/compiled';
import { limitRules } from '../graphql/limits';
import { ConnectionRegistry } from '../liveness/connections';
import { Metrics } from '../metrics';
import { PresenceService } from '../presence/presence.service';
import { DeviceType } from '../presence/presence.model';
import { isValidId } from '../presence/presence.validation';
import { Fanout } from './fanout';
import { FrameSink, createDocumentCache, createSharedSubscribe } from './shared-execution';
import { SocketExtra, sendFrame, serveGraphqlWs, textFrame } from './ws.glue';

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 50;
const KEEP_ALIVE_MS = 12_000;

/**
 * Subscriptions running on a socket: graphql-ws's `ctx.subscriptions` holds each operation
 * from its subscribe message on, null until a subscription starts. Counted only when a
 * subscription asks to start: enumerating that object on every operation allocated ~2 KB
 * per mutation (sampled heap profile at 42.5k events/s, with the operation ids the bench's
 * clients send), and the limit is on subscriptions, so a query or mutation on a socket
 * holding 50 of them is answered.
 */
function runningSubscriptions(subscriptions: Record<string, unknown>): number {
  let running = 0;
  for (const id in subscriptions) if (subscriptions[id]) running++;
  return running;
}

export interface WsDeps {
  httpServer: Server;
  schema: GraphQLSchema;
  config: Config;
  service: PresenceService;
  fanout: Fanout;
  registry: ConnectionRegistry;
  metrics: Metrics;
  logger: Logger;
  keepAliveMs?: number;
}

/** Whether a browser Origin may open a socket (no Origin: a non-browser client, always allowed). */
export function originAllowed(config: Config, origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true;
  if (config.allowedOrigins) return config.allowedOrigins.includes(origin);
  if (config.nodeEnv !== 'production') return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function parseDevice(raw: unknown): { id: string; type: DeviceType; idle: boolean } | null | 'invalid' {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object') return 'invalid';
  const { id, type, idle } = raw as Record<string, unknown>;
  if (typeof id !== 'string' || !isValidId(id)) return 'invalid';
  const deviceType = type === undefined ? DeviceType.WEB : type;
  if (typeof deviceType !== 'string' || !(deviceType in DeviceType)) return 'invalid';
  return { id, type: deviceType as DeviceType, idle: idle === true };
}

/**
 * A result with errors and no data at all was refused before anything ran: its variables
 * do not fit the operation. That is the client's input (BAD_USER_INPUT, as Apollo answers
 * on HTTP), not an internal failure to mask and log.
 */
function refusedAsBadInput(result: ExecutionResult): ExecutionResult {
  if (result.data !== undefined || !result.errors) return result;
  return {
    ...result,
    errors: result.errors.map((e) =>
      e.path || e.extensions?.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: 'BAD_USER_INPUT' } }),
    ),
  };
}

function maskErrors(result: ExecutionResult, logger: Logger): ExecutionResult {
  if (!result.errors) return result;
  const errors = result.errors.map((e) => {
    const code = e.extensions?.code;
    if (typeof code === 'string' && PUBLIC_CODES.has(code)) return e;
    logger.error({ err: e.originalError ?? e, path: e.path }, 'operation failed');
    return new GraphQLError('Internal server error', { path: e.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });
  return { ...result, errors };
}

/** Direct frame writes for one subscription, with the same error masking and slow-consumer cut-off as the glue. */
class SocketFrameSink implements FrameSink {
  constructor(
    private readonly extra: SocketExtra,
    readonly id: string,
    private readonly logger: Logger,
  ) {}

  frame(message: string): Buffer {
    return textFrame(message);
  }

  write(frame: Buffer): boolean {
    return sendFrame(this.extra.socket, this.extra.wire, frame);
  }

  format(result: ExecutionResult): ExecutionResult {
    return maskErrors(result, this.logger);
  }
}

/** Attaches graphql-ws; returns a function that closes every socket and stops accepting. */
export function attachWebSocketServer(deps: WsDeps): () => Promise<void> {
  const { config, service, fanout, registry, metrics, logger, schema } = deps;
  // The glue tracks the sockets itself (clientTracking would add a Set entry and a close listener per socket).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  const parseCached = createDocumentCache(parse);
  // Queries, mutations and subscription events over sockets run compiled (src/graphql/compiled.ts).
  const execute = createCompiledExecutor(schema);
  const validated = new WeakMap<DocumentNode, readonly GraphQLError[]>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!originAllowed(config, req.headers.origin, req.headers.host)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  deps.httpServer.on('upgrade', onUpgrade);

  const disposable = serveGraphqlWs(
    {
      schema,
      execute,
      subscribe: createSharedSubscribe(execute),
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        let viewer: Viewer;
        try {
          viewer = await verifyToken(extractToken(params.authorization ?? params.Authorization), config.jwtSecret);
        } catch {
          return false; // 4403 Forbidden
        }
        const device = parseDevice(params.device);
        // graphql-ws would keep connectionParams (token included) for the socket's lifetime;
        // nothing reads them after this check, so the socket holds neither.
        (ctx as { connectionParams?: unknown }).connectionParams = undefined;
        if (device === 'invalid') {
          ctx.extra.socket.close(CloseCode.BadRequest, 'connectionParams.device must be { id: 1-128 of A-Z a-z 0-9 . _ : @ -, type: WEB|MOBILE|DESKTOP }');
          return false;
        }
        const connection = device ? await registry.open(viewer.userId, device) : null;
        ctx.extra.viewer = viewer;
        ctx.extra.connection = connection;
        return true;
      },
      onSubscribe: (ctx, id, payload) => {
        const viewer = ctx.extra.viewer;
        if (!viewer) return [new GraphQLError('Not connected', { extensions: { code: 'UNAUTHENTICATED' } })];
        let document: DocumentNode;
        try {
          document = parseCached(payload.query);
        } catch (error) {
          return [new GraphQLError(error instanceof Error ? error.message : 'Syntax error', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        // graphql-ws keeps the subscribe message for the operation's lifetime: let it hold
        // the one copy of this query text the document cache has, not its own.
        const canonicalQuery = document.loc?.source.body;
        if (canonicalQuery !== undefined) (payload as { query: string }).query = canonicalQuery;
        let errors = validated.get(document);
        if (!errors) validated.set(document, (errors = validate(schema, document, [...specifiedRules, ...limitRules])));
        if (errors.length > 0) return errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) {
          return [new GraphQLError('Unknown operation', { extensions: { code: 'BAD_USER_INPUT' } })];
        }
        // Only a subscription writes its own frames; a query or mutation answers through graphql-ws.
        let frameSink: SocketFrameSink | undefined;
        if (operation.operation === 'subscription') {
          if (runningSubscriptions(ctx.subscriptions) >= MAX_SUBSCRIPTIONS_PER_SOCKET) {
            return [new GraphQLError(`At most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per socket`, { extensions: { code: 'BAD_USER_INPUT' } })];
          }
          frameSink = new SocketFrameSink(ctx.extra, id, logger);
        }
        return {
          schema,
          document,
          variableValues: payload.variables,
          operationName: payload.operationName,
          contextValue: contextFor(service, viewer, null, fanout, frameSink),
        };
      },
      onOperation: (_ctx, _id, _payload, _args, result) => {
        if (Symbol.asyncIterator in Object(result)) {
          metrics.subscriptions.inc();
          return result;
        }
        return maskErrors(refusedAsBadInput(result as ExecutionResult), logger);
      },
      onNext: (_ctx, _id, _payload, _args, result) => maskErrors(result, logger),
      onComplete: (_ctx, _id, _payload) => {
        metrics.subscriptions.set(fanout.followerCount());
      },
      onClose: async (ctx) => {
        metrics.subscriptions.set(fanout.followerCount());
        const connection = ctx.extra.connection;
        if (connection) {
          try {
            await registry.close(connection);
          } catch (error) {
            logger.error({ err: error }, 'could not record a socket close; the node lease reaper will');
          }
        }
      },
    },
    wss,
    logger,
    deps.keepAliveMs ?? KEEP_ALIVE_MS,
    {
      readsPaused: () => metrics.readsPaused.inc(),
      opened: () => metrics.connections.inc(),
      closed: () => metrics.connections.dec(),
    },
  );

  return async () => {
    deps.httpServer.off('upgrade', onUpgrade);
    await disposable.dispose();
  };
}
