import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

const projectRoot = path.resolve(__dirname, '..', '..');

/**
 * The environment variables PRESENCE.md's Configuration section names. The design folder sits
 * beside the repository in the workspace; when it is there, a test below keeps this list in step.
 */
const CONFIGURATION_VARIABLES = [
  'PORT',
  'REDIS_URL',
  'PRESENCE_JWT_SECRET',
  'PRESENCE_TTL_SECONDS',
  'PRESENCE_DISCONNECT_GRACE_SECONDS',
  'PRESENCE_MAX_DEVICES',
  'PRESENCE_MAX_USER_IDS',
  'PRESENCE_RATE_LIMIT_PER_MINUTE',
  'PRESENCE_ALLOWED_ORIGINS',
  'NODE_ENV',
  'LOG_LEVEL',
];
const designFile = process.env.PRESENCE_DESIGN_FILE ?? path.resolve(projectRoot, '..', 'shared', 'design', 'PRESENCE.md');

type YamlRecord = Record<string, unknown>;

function asRecord(value: unknown, what: string): YamlRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} is not a mapping`);
  return value as YamlRecord;
}

function asStringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new Error(`${what} is not a list of strings`);
  }
  return value;
}

/** docker-compose.yml with its `<<: *anchor` merges resolved, as Compose reads it. */
function loadCompose(): YamlRecord {
  const text = readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8');
  return asRecord(parse(text, { merge: true }), 'docker-compose.yml');
}

function service(name: string): YamlRecord {
  return asRecord(asRecord(loadCompose().services, 'services')[name], `service ${name}`);
}

/** Environment as a name -> value map, whichever of Compose's two spellings the file uses. */
function environmentOf(serviceName: string): Record<string, string> {
  const raw = service(serviceName).environment;
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      asStringList(raw, `${serviceName}.environment`).map((entry) => {
        const [name, ...value] = entry.split('=');
        return [name, value.join('=')];
      }),
    );
  }
  return Object.fromEntries(Object.entries(asRecord(raw, `${serviceName}.environment`)).map(([name, value]) => [name, String(value)]));
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfileInstructions(): { keyword: string; args: string }[] {
  const text = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

describe('docker-compose.yml', () => {
  it('runs Redis 7 with append-only persistence on a named volume', () => {
    const redis = service('redis');
    expect(redis.image).toBe('redis:7');
    expect(asStringList(redis.command, 'redis.command').join(' ')).toMatch(/--appendonly yes/);
    const volumes = asStringList(redis.volumes, 'redis.volumes');
    const dataVolume = volumes.map((volume) => volume.split(':')).find(([, target]) => target === '/data');
    expect(dataVolume).toBeDefined();
    expect(asRecord(loadCompose().volumes, 'volumes')).toHaveProperty(dataVolume?.[0] ?? '');
    expect(asStringList(asRecord(redis.healthcheck, 'redis.healthcheck').test, 'redis.healthcheck.test')).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it.each([
    ['presence-1', 4001],
    ['presence-2', 4002],
  ])('%s builds this repository and publishes port %i to 4000', (name, hostPort) => {
    const node = service(name);
    expect(node.build).toBe('.');
    expect(node.image).toBeUndefined();
    expect(asStringList(node.ports, `${name}.ports`)).toEqual([`${hostPort}:4000`]);
  });

  it.each([['presence-1'], ['presence-2']])('%s is configured for production on the shared Redis', (name) => {
    const environment = environmentOf(name);
    for (const variable of Object.keys(environment)) {
      expect({ variable, documented: CONFIGURATION_VARIABLES.includes(variable) }).toEqual({ variable, documented: true });
    }
    expect(environment).toMatchObject({
      REDIS_URL: 'redis://redis:6379',
      NODE_ENV: 'production',
      // Compose refuses to start without a secret rather than run production on a default one.
      PRESENCE_JWT_SECRET: '${PRESENCE_JWT_SECRET:?set it}',
    });
    expect(environment).toHaveProperty('PRESENCE_ALLOWED_ORIGINS');
  });

  it.each([['presence-1'], ['presence-2']])('%s reports healthy through /readyz and waits for a healthy Redis', (name) => {
    const node = service(name);
    const test = asStringList(asRecord(node.healthcheck, `${name}.healthcheck`).test, `${name}.healthcheck.test`);
    expect(test[0]).toBe('CMD');
    expect(test.join(' ')).toContain('http://127.0.0.1:4000/readyz');
    expect(asRecord(asRecord(node.depends_on, `${name}.depends_on`).redis, `${name}.depends_on.redis`)).toEqual({ condition: 'service_healthy' });
  });

  const itWithDesign = existsSync(designFile) ? it : it.skip;
  itWithDesign("names the same variables as PRESENCE.md's Configuration section", () => {
    const design = readFileSync(designFile, 'utf8');
    const section = /## Configuration \(environment\)\n([\s\S]*?)(?:\n## |$)/.exec(design)?.[1] ?? '';
    const documented = [...section.split('\n').slice(0, 3).join(' ').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]);
    expect(documented.sort()).toEqual([...CONFIGURATION_VARIABLES].sort());
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions();
  const lastFrom = instructions.map((instruction) => instruction.keyword).lastIndexOf('FROM');
  const runtimeStage = instructions.slice(lastFrom);

  it('builds in one node:20-slim stage and runs in another', () => {
    const stages = instructions.filter((instruction) => instruction.keyword === 'FROM');
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.args).toMatch(/^node:20-slim\b/);
  });

  it('runs as a non-root user', () => {
    const users = runtimeStage.filter((instruction) => instruction.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1].args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('exposes 4000, checks /readyz and starts the compiled server the way `npm start` does', () => {
    expect(runtimeStage).toContainEqual({ keyword: 'EXPOSE', args: '4000' });
    const healthcheck = runtimeStage.find((instruction) => instruction.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/CMD .*node.*fetch\(.*\/readyz/);
    const cmd = runtimeStage.find((instruction) => instruction.keyword === 'CMD');
    const start = (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(JSON.parse(cmd?.args ?? 'null')).toEqual(start.split(' '));
    expect(start).toMatch(/^node .*dist\/src\/index\.js$/);
  });

  it('ships the GraphiQL bundle with the compiled server', () => {
    const copies = runtimeStage.filter((instruction) => instruction.keyword === 'COPY').map((instruction) => instruction.args);
    expect(copies).toEqual(expect.arrayContaining([expect.stringMatching(/\/app\/dist\b/), expect.stringMatching(/\/app\/static\b/)]));
  });

  it('keeps local node_modules and build output out of the build context', () => {
    const ignored = readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8').split(/\r?\n/).map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', 'dist', 'static', '.git']));
  });
});
