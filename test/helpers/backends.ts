/**
 * The backends every behaviour suite runs against. The Redis one gets a private
 * redis-server for the suite (or REDIS_URL when given) and a unique key prefix per server.
 */
import { startRedis, TestRedis } from './redis';
import { startServer, TestServer } from './server';

export type BackendName = 'memory' | 'redis';
export const BACKENDS: BackendName[] = ['memory', 'redis'];

/** Call inside a describe: gives a function that starts a server on that backend. */
export function useBackend(backend: BackendName): { start(env?: Record<string, string>, options?: { keepAliveMs?: number }): Promise<TestServer>; redis(): TestRedis | null } {
  let redis: TestRedis | null = null;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    if (backend === 'redis') redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    await redis?.stop();
  });
  return {
    async start(env = {}, options = {}) {
      const server = await startServer(backend === 'redis' && redis ? { REDIS_URL: redis.url, ...env } : env, options);
      servers.push(server);
      return server;
    },
    redis: () => redis,
  };
}

let counter = 0;
/** A user id unique to this test run. */
export function uid(name: string): string {
  counter += 1;
  return `${name}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}
