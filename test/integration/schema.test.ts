/** The checked-in schema.graphql is what the resolvers emit, and it keeps the public contract. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryPubSub } from '../../src/realtime/pubsub';
import { buildPresenceSchema } from '../../src/schema';

const ROOT = path.resolve(__dirname, '..', '..');

describe('schema.graphql', () => {
  it('is up to date with the resolvers (run `npm run schema` when this fails)', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'schema-')), 'schema.graphql');
    await buildPresenceSchema(new MemoryPubSub(), out);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(path.join(ROOT, 'schema.graphql'), 'utf8'));
  });

  it('passes ../shared/tools/check-contract.mjs', () => {
    const output = execFileSync(process.execPath, [path.join(ROOT, '..', 'shared', 'tools', 'check-contract.mjs'), 'schema.graphql'], { cwd: ROOT, encoding: 'utf8' });
    expect(output).toContain('contract: no breaking changes');
  });
});
