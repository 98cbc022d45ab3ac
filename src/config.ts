/**
 * Reads the environment into a typed, validated Config. Every bad variable is named in
 * one error so an operator fixes them all in one go.
 */

/** The development secret: usable only outside production, and loudly named so it is never mistaken for a real one. */
export const DEV_JWT_SECRET = 'dev-only-insecure-presence-secret-do-not-use-in-production';

export interface Config {
  port: number;
  redisUrl: string | null;
  jwtSecret: string;
  /** True when no PRESENCE_JWT_SECRET was given (the development secret is in use). */
  usingDevSecret: boolean;
  ttlSeconds: number;
  disconnectGraceSeconds: number;
  maxDevices: number;
  maxUserIds: number;
  rateLimitPerMinute: number;
  allowedOrigins: string[] | null;
  nodeEnv: string;
  logLevel: string;
  /** Prefix of every Redis key and channel; lets tests share one Redis without clashes. */
  redisKeyPrefix: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function readInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  const value = Number(raw);
  if (value < min || value > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max} (got ${raw})`);
    return fallback;
  }
  return value;
}

/** Builds the Config; throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const nodeEnv = env.NODE_ENV?.trim() ?? '';
  const secret = env.PRESENCE_JWT_SECRET;
  if (secret !== undefined && secret.length > 0 && secret.length < 16) {
    problems.push('PRESENCE_JWT_SECRET must be at least 16 characters');
  }
  if (nodeEnv === 'production' && !secret) {
    problems.push('PRESENCE_JWT_SECRET must be set when NODE_ENV=production (the development secret is refused)');
  }
  if (nodeEnv === 'production' && secret === DEV_JWT_SECRET) {
    problems.push('PRESENCE_JWT_SECRET must not be the development secret when NODE_ENV=production');
  }
  const redisUrl = env.REDIS_URL?.trim() || null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push(`REDIS_URL must start with redis:// or rediss:// (got "${redisUrl}")`);
  }
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  const origins = env.PRESENCE_ALLOWED_ORIGINS?.trim();
  const allowedOrigins = origins ? origins.split(',').map((o) => o.trim()).filter(Boolean) : null;
  for (const o of allowedOrigins ?? []) {
    if (!/^https?:\/\/[^/]+$/.test(o)) problems.push(`PRESENCE_ALLOWED_ORIGINS must be a comma list of origins like https://app.example.com (got "${o}")`);
  }
  const config: Config = {
    port: readInt(env, 'PORT', 4000, 0, 65535, problems),
    redisUrl,
    jwtSecret: secret || DEV_JWT_SECRET,
    usingDevSecret: !secret,
    ttlSeconds: readInt(env, 'PRESENCE_TTL_SECONDS', 60, 1, 86400, problems),
    disconnectGraceSeconds: readInt(env, 'PRESENCE_DISCONNECT_GRACE_SECONDS', 5, 0, 3600, problems),
    maxDevices: readInt(env, 'PRESENCE_MAX_DEVICES', 10, 1, 1000, problems),
    maxUserIds: readInt(env, 'PRESENCE_MAX_USER_IDS', 500, 1, 10000, problems),
    rateLimitPerMinute: readInt(env, 'PRESENCE_RATE_LIMIT_PER_MINUTE', 120, 1, 100_000_000, problems),
    allowedOrigins,
    nodeEnv,
    logLevel,
    redisKeyPrefix: env.PRESENCE_REDIS_PREFIX?.trim() || 'presence',
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Seconds until the next heartbeat should be sent: max(1, floor(ttl * 5 / 12)). */
export function nextHeartbeatSeconds(ttlSeconds: number): number {
  return Math.max(1, Math.floor((ttlSeconds * 5) / 12));
}
