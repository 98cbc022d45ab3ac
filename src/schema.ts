/** Builds the executable schema from the Type-GraphQL resolvers. */
import 'reflect-metadata';
import { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { PresenceResolver } from './presence/presence.resolver';
import { PresenceMessage } from './presence/presence.model';
import { PresencePubSub } from './realtime/pubsub';

/**
 * `pubsub`: the node's channels, handed to Type-GraphQL in its PubSub shape.
 * `emit`: also write schema.graphql (the checked-in copy the contract check reads).
 */
export async function buildPresenceSchema(pubsub: PresencePubSub, emit: string | false = false): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [PresenceResolver],
    pubSub: {
      publish: (userId: string, message: unknown) => void pubsub.publish(userId, message as PresenceMessage),
      subscribe: (userId: string) => pubsub.subscribe(userId),
    },
    validate: false,
    emitSchemaFile: emit ? { path: emit, sortedSchema: false } : false,
  });
  // Type-GraphQL checks @Arg values in an async function even with validate: false, so the
  // generated presenceChanged resolver would turn every event's execution into a promise
  // (a promise chain per receiver). Its arguments are read by `subscribe` only, and the
  // event it returns is already shaped for the viewer: resolve it as it is.
  const presenceChanged = schema.getSubscriptionType()?.getFields().presenceChanged;
  if (presenceChanged) presenceChanged.resolve = (event: unknown) => event;
  return schema;
}
