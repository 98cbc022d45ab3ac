/**
 * Per-user mutation budget (PRESENCE_RATE_LIMIT_PER_MINUTE) with rate-limiter-flexible:
 * in process for the memory backend, shared through Redis when Redis is configured so
 * every node spends from one budget.
 */
import type Redis from 'ioredis';
import { RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError, ServiceUnavailableError } from './errors';
import { MutationLimiter } from './presence/presence.service';

export function createMutationLimiter(perMinute: number, redis: Redis | null, keyPrefix: string): MutationLimiter {
  const opts = { points: perMinute, duration: 60, keyPrefix: `${keyPrefix}:ratelimit` };
  const limiter: RateLimiterAbstract = redis ? new RateLimiterRedis({ ...opts, storeClient: redis, rejectIfRedisNotReady: true }) : new RateLimiterMemory(opts);
  return {
    async consume(userId: string): Promise<void> {
      try {
        await limiter.consume(userId);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
        throw new ServiceUnavailableError();
      }
    },
  };
}
