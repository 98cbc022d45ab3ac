/** Writes schema.graphql from the Type-GraphQL resolvers (`npm run schema`). */
import 'reflect-metadata';
import path from 'node:path';
import { MemoryPubSub } from '../src/realtime/pubsub';
import { buildPresenceSchema } from '../src/schema';

buildPresenceSchema(new MemoryPubSub(), path.resolve(__dirname, '..', 'schema.graphql'))
  .then(() => process.stdout.write('schema.graphql written\n'))
  .catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
