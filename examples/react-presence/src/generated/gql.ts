/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment PresenceFields on Presence {\n  userId\n  status\n  customStatus\n  activity {\n    type\n    name\n    url\n    startedAt\n  }\n  devices {\n    id\n    type\n    status\n    connectedAt\n    lastSeenAt\n  }\n  lastSeenAt\n  since\n  version\n}": typeof types.PresenceFieldsFragmentDoc,
    "mutation Heartbeat($device: DeviceInput!) {\n  heartbeat(device: $device) {\n    presence {\n      ...PresenceFields\n    }\n    ttlSeconds\n    nextHeartbeatInSeconds\n  }\n}\n\nmutation SetStatus($input: SetStatusInput!) {\n  setStatus(input: $input) {\n    ...PresenceFields\n  }\n}": typeof types.HeartbeatDocument,
    "query Me {\n  me {\n    ...PresenceFields\n  }\n}\n\nquery Contacts {\n  contacts {\n    ...PresenceFields\n  }\n}": typeof types.MeDocument,
    "subscription PresenceChanged($userIds: [ID!], $initial: Boolean!) {\n  presenceChanged(userIds: $userIds, initial: $initial) {\n    presence {\n      ...PresenceFields\n    }\n    previousStatus\n    reason\n    at\n  }\n}": typeof types.PresenceChangedDocument,
};
const documents: Documents = {
    "fragment PresenceFields on Presence {\n  userId\n  status\n  customStatus\n  activity {\n    type\n    name\n    url\n    startedAt\n  }\n  devices {\n    id\n    type\n    status\n    connectedAt\n    lastSeenAt\n  }\n  lastSeenAt\n  since\n  version\n}": types.PresenceFieldsFragmentDoc,
    "mutation Heartbeat($device: DeviceInput!) {\n  heartbeat(device: $device) {\n    presence {\n      ...PresenceFields\n    }\n    ttlSeconds\n    nextHeartbeatInSeconds\n  }\n}\n\nmutation SetStatus($input: SetStatusInput!) {\n  setStatus(input: $input) {\n    ...PresenceFields\n  }\n}": types.HeartbeatDocument,
    "query Me {\n  me {\n    ...PresenceFields\n  }\n}\n\nquery Contacts {\n  contacts {\n    ...PresenceFields\n  }\n}": types.MeDocument,
    "subscription PresenceChanged($userIds: [ID!], $initial: Boolean!) {\n  presenceChanged(userIds: $userIds, initial: $initial) {\n    presence {\n      ...PresenceFields\n    }\n    previousStatus\n    reason\n    at\n  }\n}": types.PresenceChangedDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment PresenceFields on Presence {\n  userId\n  status\n  customStatus\n  activity {\n    type\n    name\n    url\n    startedAt\n  }\n  devices {\n    id\n    type\n    status\n    connectedAt\n    lastSeenAt\n  }\n  lastSeenAt\n  since\n  version\n}"): (typeof documents)["fragment PresenceFields on Presence {\n  userId\n  status\n  customStatus\n  activity {\n    type\n    name\n    url\n    startedAt\n  }\n  devices {\n    id\n    type\n    status\n    connectedAt\n    lastSeenAt\n  }\n  lastSeenAt\n  since\n  version\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation Heartbeat($device: DeviceInput!) {\n  heartbeat(device: $device) {\n    presence {\n      ...PresenceFields\n    }\n    ttlSeconds\n    nextHeartbeatInSeconds\n  }\n}\n\nmutation SetStatus($input: SetStatusInput!) {\n  setStatus(input: $input) {\n    ...PresenceFields\n  }\n}"): (typeof documents)["mutation Heartbeat($device: DeviceInput!) {\n  heartbeat(device: $device) {\n    presence {\n      ...PresenceFields\n    }\n    ttlSeconds\n    nextHeartbeatInSeconds\n  }\n}\n\nmutation SetStatus($input: SetStatusInput!) {\n  setStatus(input: $input) {\n    ...PresenceFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Me {\n  me {\n    ...PresenceFields\n  }\n}\n\nquery Contacts {\n  contacts {\n    ...PresenceFields\n  }\n}"): (typeof documents)["query Me {\n  me {\n    ...PresenceFields\n  }\n}\n\nquery Contacts {\n  contacts {\n    ...PresenceFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription PresenceChanged($userIds: [ID!], $initial: Boolean!) {\n  presenceChanged(userIds: $userIds, initial: $initial) {\n    presence {\n      ...PresenceFields\n    }\n    previousStatus\n    reason\n    at\n  }\n}"): (typeof documents)["subscription PresenceChanged($userIds: [ID!], $initial: Boolean!) {\n  presenceChanged(userIds: $userIds, initial: $initial) {\n    presence {\n      ...PresenceFields\n    }\n    previousStatus\n    reason\n    at\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;