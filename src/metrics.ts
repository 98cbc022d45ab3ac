/** Prometheus metrics of one app instance (its own registry, so tests can run several). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  connections: Gauge;
  readsPaused: Counter;
  subscriptions: Gauge;
  channels: Gauge;
  eventsPublished: Counter;
  eventsDelivered: Counter;
  expiryLateness: Histogram;
  redisErrors: Counter;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    connections: new Gauge({ name: 'presence_ws_connections', help: 'Open graphql-ws sockets', registers: [registry] }),
    readsPaused: new Counter({
      name: 'presence_ws_reads_paused_total',
      help: 'Times a graphql-ws socket stopped being read because its running queries and mutations reached the per-socket limit (backpressure)',
      registers: [registry],
    }),
    subscriptions: new Gauge({ name: 'presence_subscriptions', help: 'Open presenceChanged subscriptions', registers: [registry] }),
    channels: new Gauge({ name: 'presence_channel_subscriptions', help: 'Per-user channels this node listens to', registers: [registry] }),
    eventsPublished: new Counter({ name: 'presence_events_published_total', help: 'Presence messages published by this node', registers: [registry] }),
    eventsDelivered: new Counter({ name: 'presence_events_delivered_total', help: 'Events delivered to subscribers on this node', registers: [registry] }),
    expiryLateness: new Histogram({
      name: 'presence_expiry_lateness_seconds',
      help: 'Time from a device deadline to its removal',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    }),
    redisErrors: new Counter({ name: 'presence_redis_errors_total', help: 'Redis connection errors', registers: [registry] }),
  };
}
