/**
 * buildApp(config) wires one node: store and pub/sub (memory or Redis), fan-out,
 * liveness (sweeper, lease, connections), Apollo over Express and graphql-ws on one
 * HTTP server. `start()` listens; `stop()` drains HTTP and sockets, then closes Redis.
 */
import 'reflect-metadata';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import { Clock, systemClock } from './clock';
import { Config } from './config';
import { Context, buildContext } from './context';
import { PUBLIC_CODES } from './errors';
import { limitRules } from './graphql/limits';
import { ConnectionRegistry } from './liveness/connections';
import { Sweeper } from './liveness/sweeper';
import { createLogger } from './logger';
import { Metrics, createMetrics } from './metrics';
import { PresenceService } from './presence/presence.service';
import { PresenceStore } from './presence/presence.store';
import { MemoryPresenceStore } from './presence/store/memory';
import { createMutationLimiter } from './ratelimit';
import { Fanout } from './realtime/fanout';
import { MemoryPubSub, PresencePubSub } from './realtime/pubsub';
import { attachWebSocketServer } from './realtime/ws.server';
import { buildPresenceSchema } from './schema';
import { RedisBackend, createRedisBackend } from './redis/backend';
import { mountGraphiql, landingPageHtml } from './http/graphiql';

export interface App {
  readonly httpServer: http.Server;
  readonly config: Config;
  readonly store: PresenceStore;
  readonly pubsub: PresencePubSub;
  readonly fanout: Fanout;
  readonly registry: ConnectionRegistry;
  readonly sweeper: Sweeper;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly redis: RedisBackend | null;
  /** The executable schema HTTP and ws share. */
  readonly schema: GraphQLSchema;
  /** The port actually bound (useful with PORT=0 in tests). */
  port(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  nodeId?: string;
  /** graphql-ws keep-alive ping interval (default 12 s); tests shorten it. */
  keepAliveMs?: number;
}

/** How long `stop()` lets HTTP requests in flight finish before it cuts their connections. */
const HTTP_DRAIN_MS = 10_000;

/**
 * Stops accepting connections, closes idle keep-alive ones at once and waits for requests in
 * flight, cutting what is left after HTTP_DRAIN_MS. This is Node's own `server.close()` (which
 * closes idle connections since Node 19) rather than Apollo's drain plugin: that plugin keeps
 * a Map entry and a `once('close')` listener for every connection for its whole life, the
 * WebSocket ones included, which were ~0.3 KiB per idle subscriber; the WebSockets are
 * closed before this runs anyway.
 */
async function closeHttpServer(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const cutoff = setTimeout(() => server.closeAllConnections(), HTTP_DRAIN_MS);
  try {
    await closed;
  } finally {
    clearTimeout(cutoff);
  }
}

export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config);
  const metrics = createMetrics();
  if (config.usingDevSecret) logger.warn('PRESENCE_JWT_SECRET is not set: using the development secret (refused when NODE_ENV=production)');

  let store: PresenceStore;
  let pubsub: PresencePubSub;
  let redis: RedisBackend | null = null;
  if (config.redisUrl) {
    redis = await createRedisBackend(config, clock, logger, metrics);
    store = redis.store;
    pubsub = redis.pubsub;
  } else {
    const memoryPubSub = new MemoryPubSub();
    store = new MemoryPresenceStore(memoryPubSub, clock);
    pubsub = memoryPubSub;
  }
  store.events.on('published', () => metrics.eventsPublished.inc());

  const limiter = createMutationLimiter(config.rateLimitPerMinute, redis?.client ?? null, config.redisKeyPrefix);
  const service = new PresenceService(store, config, limiter, clock);
  const fanout = new Fanout(store, pubsub, clock);
  let deliveredReported = 0;
  const registry = new ConnectionRegistry(store, config, options.nodeId);
  const sweeper = new Sweeper(store, clock);
  sweeper.events.on('expired', (lateMs: number) => metrics.expiryLateness.observe(Math.max(0, lateMs) / 1000));
  redis?.attachLiveness({ registry, sweeper, fanout });

  const schema = await buildPresenceSchema(pubsub);
  const development = config.nodeEnv === 'development';
  const httpServer = http.createServer();
  const apollo = new ApolloServer<Context>({
    schema,
    allowBatchedHttpRequests: false,
    // index.ts owns SIGTERM/SIGINT and drains everything in order; two handlers would race.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: development,
    introspection: true,
    validationRules: limitRules,
    // Authorization is a non-simple header, so a request carrying it is preflighted by browsers.
    csrfPrevention: { requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'] },
    formatError: (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
      const code = formatted.extensions?.code;
      if (typeof code === 'string' && PUBLIC_CODES.has(code)) return formatted;
      logger.error({ err: error }, 'operation failed');
      return {
        message: 'Internal server error',
        path: formatted.path,
        extensions: { code: 'INTERNAL_SERVER_ERROR', ...(development && formatted.extensions?.stacktrace ? { stacktrace: formatted.extensions.stacktrace } : {}) },
      };
    },
    // No cache hints: presence is live and private (every answer is `no-store`, set below).
    // The cache-control plugin's per-field hook made Apollo wrap every field resolver of the
    // schema, which the ws server shares: each field of each event and mutation went
    // through that wrapper, and compiled execution could not read plain fields directly.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled()],
  });

  const web = express();
  web.disable('x-powered-by');
  web.use((req, res, next) => {
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id']) || randomUUID();
    res.setHeader('x-request-id', requestId);
    (req as express.Request & { log?: Logger }).log = logger.child({ requestId });
    next();
  });
  web.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  web.get('/readyz', (_req, res) => {
    const ready = store.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', backend: store.backend });
  });
  web.get('/metrics', async (_req, res) => {
    metrics.subscriptions.set(fanout.followerCount());
    metrics.channels.set(pubsub.channelCount());
    metrics.eventsDelivered.inc(fanout.delivered - deliveredReported);
    deliveredReported = fanout.delivered;
    res.setHeader('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  mountGraphiql(web, { development: config.nodeEnv !== 'production' });
  if (config.nodeEnv !== 'production') {
    web.get('/', (_req, res) => {
      res.type('html').send(landingPageHtml());
    });
  }

  let disposeWs: (() => Promise<void>) | null = null;
  let started = false;

  const app: App = {
    httpServer,
    config,
    store,
    pubsub,
    fanout,
    registry,
    sweeper,
    metrics,
    logger,
    redis,
    schema,
    port() {
      const address = httpServer.address();
      return typeof address === 'object' && address ? address.port : config.port;
    },
    async start() {
      await apollo.start();
      web.use(
        '/graphql',
        (_req, res, next) => {
          res.setHeader('Cache-Control', 'no-store');
          next();
        },
        express.json({ limit: '1mb' }),
        expressMiddleware(apollo, {
          context: async ({ req }) => buildContext(service, config.jwtSecret, req.headers.authorization),
        }),
      );
      httpServer.on('request', web);
      disposeWs = attachWebSocketServer({ httpServer, schema, config, service, fanout, registry, metrics, logger, keepAliveMs: options.keepAliveMs });
      sweeper.start();
      await redis?.start();
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      started = true;
      logger.info({ port: app.port(), backend: store.backend, nodeId: registry.nodeId }, 'presence service listening');
    },
    async stop() {
      // Sockets first, so their devices take the grace path while Redis is still there.
      if (disposeWs) await disposeWs();
      disposeWs = null;
      await closeHttpServer(httpServer);
      if (started) await apollo.stop();
      started = false;
      await sweeper.stop();
      await redis?.stop();
      await pubsub.close();
      await store.close();
    },
  };
  return app;
}
