/** `npm start`'s entry point refuses bad configuration with one line naming the variable. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

function start(env: Record<string, string>) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['PRESENCE_JWT_SECRET', 'NODE_ENV', 'REDIS_URL'].includes(k)));
  return spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src', 'index.ts')], {
    cwd: ROOT,
    env: { ...base, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('start-up', () => {
  it('refuses NODE_ENV=production without PRESENCE_JWT_SECRET', () => {
    const run = start({ NODE_ENV: 'production', PORT: '0' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('PRESENCE_JWT_SECRET');
  });

  it('names a bad variable and what it accepts', () => {
    const run = start({ PRESENCE_TTL_SECONDS: 'soon', PORT: '0' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/PRESENCE_TTL_SECONDS must be a whole number from 1 to 86400/);
  });

  it('names REDIS_URL when Redis cannot be reached', () => {
    const run = start({ REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('REDIS_URL');
  });
});
