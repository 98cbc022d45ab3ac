/** Start-up configuration: defaults, validation naming the variable, production secret rule. */
import { ConfigError, DEV_JWT_SECRET, loadConfig, nextHeartbeatSeconds } from '../../src/config';

describe('loadConfig', () => {
  it('has the documented defaults and uses the development secret without one', () => {
    const c = loadConfig({});
    expect(c).toEqual(
      expect.objectContaining({ port: 4000, redisUrl: null, ttlSeconds: 60, disconnectGraceSeconds: 5, maxDevices: 10, maxUserIds: 500, rateLimitPerMinute: 120, usingDevSecret: true }),
    );
    expect(c.jwtSecret).toBe(DEV_JWT_SECRET);
  });

  it('names each bad variable', () => {
    const attempt = () => loadConfig({ PORT: 'abc', PRESENCE_TTL_SECONDS: '0', PRESENCE_MAX_DEVICES: '-1', LOG_LEVEL: 'loud', REDIS_URL: 'http://x' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      for (const name of ['PORT', 'PRESENCE_TTL_SECONDS', 'PRESENCE_MAX_DEVICES', 'LOG_LEVEL', 'REDIS_URL']) expect(message).toContain(name);
    }
  });

  it('refuses production without PRESENCE_JWT_SECRET, naming it', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/PRESENCE_JWT_SECRET/);
    expect(() => loadConfig({ NODE_ENV: 'production', PRESENCE_JWT_SECRET: DEV_JWT_SECRET })).toThrow(/PRESENCE_JWT_SECRET/);
    expect(loadConfig({ NODE_ENV: 'production', PRESENCE_JWT_SECRET: 'a-real-secret-of-enough-length' }).usingDevSecret).toBe(false);
  });

  it('computes the heartbeat interval as max(1, floor(ttl * 5 / 12))', () => {
    expect(nextHeartbeatSeconds(60)).toBe(25);
    expect(nextHeartbeatSeconds(2)).toBe(1);
    expect(nextHeartbeatSeconds(1)).toBe(1);
  });
});
