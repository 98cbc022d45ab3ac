/**
 * What the load generator says on the wire. The service and the raw baseline receive exactly
 * these bytes, so the only difference between the two runs is the server.
 *
 * Publishers embed the send time in `customStatus` (a "status marker"); receivers find it in
 * the raw frame with two `indexOf` calls instead of parsing JSON, which keeps the client cheap
 * enough that the server, not the generator, is what saturates.
 */

/** The `graphql-transport-ws` subprotocol name both servers must accept. */
export const GRAPHQL_WS_PROTOCOL = 'graphql-transport-ws';

/** The subscription id every bench subscriber uses (ids are chosen by the client). */
export const WATCH_SUBSCRIPTION_ID = '1';

/**
 * The subscription every subscriber holds: all contacts (no `userIds`), with an `INITIAL`
 * snapshot so the client knows when the subscription is live.
 */
export const WATCH_DOCUMENT =
  'subscription Watch { presenceChanged(initial: true) { reason previousStatus at presence { userId status customStatus version lastSeenAt since } } }';

/** The mutation publishers send over their graphql-ws connection. */
export const SET_STATUS_DOCUMENT =
  'mutation SetStatus($s: String!) { setStatus(input: { customStatus: $s }) { version } }';

/** The HTTP heartbeat (`PRESENCE.md`: over HTTP, once per TTL/2.4 in real clients). */
export const HEARTBEAT_DOCUMENT =
  'mutation Beat($d: DeviceInput) { heartbeat(device: $d) { ttlSeconds nextHeartbeatInSeconds } }';

/** The admin mutation that replaces a user's (mutual) contact list. */
export const SET_CONTACTS_DOCUMENT =
  'mutation Contacts($u: ID!, $c: [ID!]!) { setContacts(userId: $u, contactIds: $c) }';

/** Length every marker is padded to, so payloads are the same size in every step. */
export const STATUS_MARKER_LENGTH = 64;

const MARKER_TAG = '~B~';
const MARKER_NEEDLE = Buffer.from(`"customStatus":"${MARKER_TAG}`);
const PROFILE_NEEDLE = Buffer.from('"PROFILE_CHANGED"');
const TILDE = 0x7e;

/** A decoded status marker: which load step sent it and when (epoch ms, fractional). */
export interface StatusMarker {
  step: number;
  sentAtMs: number;
}

/** Builds the customStatus text for step `step` sent at `sentAtMs` (fixed length). */
export function encodeStatusMarker(step: number, sentAtMs: number): string {
  const head = `${MARKER_TAG}${step}~${sentAtMs.toFixed(3)}~`;
  return head.padEnd(STATUS_MARKER_LENGTH, 'x');
}

/**
 * Finds a PROFILE_CHANGED event carrying a status marker in a raw graphql-ws frame.
 * Returns null for every other frame (INITIAL, CONNECTED, acks, mutation results).
 */
export function findProfileMarker(frame: Buffer): StatusMarker | null {
  const at = frame.indexOf(MARKER_NEEDLE);
  if (at === -1 || frame.indexOf(PROFILE_NEEDLE) === -1) return null;
  const stepStart = at + MARKER_NEEDLE.length;
  const stepEnd = frame.indexOf(TILDE, stepStart);
  if (stepEnd === -1) return null;
  const timeEnd = frame.indexOf(TILDE, stepEnd + 1);
  if (timeEnd === -1) return null;
  const step = Number(frame.toString('latin1', stepStart, stepEnd));
  const sentAtMs = Number(frame.toString('latin1', stepEnd + 1, timeEnd));
  if (!Number.isFinite(step) || !Number.isFinite(sentAtMs)) return null;
  return { step, sentAtMs };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

const SET_STATUS_QUERY_JSON = JSON.stringify(SET_STATUS_DOCUMENT);

/** The graphql-ws `subscribe` frame for one SetStatus call (built by hand: it is hot). */
export function setStatusFrame(operationId: number, marker: string): string {
  return `{"id":"${operationId}","type":"subscribe","payload":{"operationName":"SetStatus","query":${SET_STATUS_QUERY_JSON},"variables":{"s":"${marker}"}}}`;
}
