/**
 * The React example's generated GraphQL types must match what `npm run codegen` produces from
 * today's schema.graphql and .graphql operations. The test regenerates into a temp dir with the
 * project's own codegen.yml (only the output path changed) and compares file by file, so a
 * schema or operation change without `npm run codegen` fails here, in CI.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';

const execFileAsync = promisify(execFile);

const ROOT = resolve(__dirname, '..', '..');
const CONFIG_PATH = join(ROOT, 'codegen.yml');
const COMMITTED_DIR = 'examples/react-presence/src/generated/';
const CODEGEN_BIN = join(ROOT, 'node_modules', '@graphql-codegen', 'cli', 'esm', 'bin.js');

interface CodegenConfig {
  schema: string;
  generates: Record<string, unknown>;
  [key: string]: unknown;
}

function isCodegenConfig(value: unknown): value is CodegenConfig {
  return (
    typeof value === 'object' &&
    value !== null &&
    'schema' in value &&
    typeof value.schema === 'string' &&
    'generates' in value &&
    typeof value.generates === 'object' &&
    value.generates !== null
  );
}

async function listFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('codegen', () => {
  let tempDir: string;

  beforeAll(async () => {
    tempDir = await mkdtemp(join(tmpdir(), 'presence-codegen-'));
  });

  afterAll(async () => {
    await rm(tempDir, { recursive: true, force: true });
  });

  it('examples/react-presence/src/generated is what `npm run codegen` writes today', async () => {
    const config: unknown = parse(await readFile(CONFIG_PATH, 'utf8'));
    if (!isCodegenConfig(config)) throw new Error('codegen.yml must have a string `schema` and a `generates` map');
    expect(config.schema).toBe('./schema.graphql');
    if (!existsSync(join(ROOT, 'schema.graphql'))) {
      throw new Error('schema.graphql is missing: run `npm run schema` (codegen reads the emitted schema)');
    }
    const target = config.generates[COMMITTED_DIR];
    if (target === undefined) throw new Error(`codegen.yml must generate into ${COMMITTED_DIR}`);

    // Same config, same cwd (relative schema and document paths resolve alike); only the
    // output moves to the temp dir so the committed files are never touched.
    const outDir = join(tempDir, 'generated') + '/';
    const tempConfig = join(tempDir, 'codegen.yml');
    await writeFile(tempConfig, stringify({ ...config, generates: { [outDir]: target } }));
    await execFileAsync(process.execPath, [CODEGEN_BIN, '--config', tempConfig, '--silent'], {
      cwd: ROOT,
      timeout: 60_000,
    });

    const committedDir = join(ROOT, COMMITTED_DIR);
    const expectedFiles = await listFiles(outDir);
    const committedFiles = existsSync(committedDir) ? await listFiles(committedDir) : [];
    const stale: string[] = [];
    for (const name of new Set([...expectedFiles, ...committedFiles])) {
      const fresh = expectedFiles.includes(name) ? await readFile(join(outDir, name), 'utf8') : null;
      const committed = committedFiles.includes(name) ? await readFile(join(committedDir, name), 'utf8') : null;
      if (fresh !== committed) stale.push(name);
    }
    if (stale.length > 0) {
      throw new Error(`${COMMITTED_DIR} is stale (${stale.join(', ')}): run \`npm run codegen\` and commit the result`);
    }
  }, 90_000);
});
