/**
 * Plain data shapes shared by the rules, the stores and the fan-out. Times are epoch
 * milliseconds; they become DateTimeISO only at the GraphQL edge.
 */

/** `{ A: 'A', B: 'B' }`: a union's values as an object (the GraphQL enums are registered from these). */
function valuesOf<const T extends string>(...names: T[]): { readonly [K in T]: K } {
  return Object.freeze(Object.fromEntries(names.map((name) => [name, name]))) as { readonly [K in T]: K };
}

// Each name below is a union type and, with the same name, the object of its values.
export const PresenceStatus = valuesOf('ONLINE', 'AWAY', 'BUSY', 'INVISIBLE', 'OFFLINE');
export type PresenceStatus = keyof typeof PresenceStatus;
export const StatusPreference = valuesOf('ONLINE', 'AWAY', 'BUSY', 'INVISIBLE');
export type StatusPreference = keyof typeof StatusPreference;
export const DeviceType = valuesOf('WEB', 'MOBILE', 'DESKTOP');
export type DeviceType = keyof typeof DeviceType;
export const ActivityType = valuesOf('PLAYING', 'STREAMING', 'LISTENING', 'WATCHING', 'CUSTOM');
export type ActivityType = keyof typeof ActivityType;
export const PresenceChangeReason = valuesOf(
  'INITIAL',
  'CONNECTED',
  'DISCONNECTED',
  'EXPIRED',
  'STATUS_CHANGED',
  'PROFILE_CHANGED',
  'DEVICES_CHANGED',
  'CONTACT_ADDED',
  'CONTACT_REMOVED',
);
export type PresenceChangeReason = keyof typeof PresenceChangeReason;

export interface ActivityData {
  type: ActivityType;
  name: string;
  url: string | null;
  startedAt: number;
}

/** One device of a user, as stored. */
export interface DeviceState {
  id: string;
  type: DeviceType;
  idle: boolean;
  connectedAt: number;
  lastSeenAt: number;
  /** When the device expires if nothing keeps it; ignored while `conns` is not empty. */
  deadline: number;
  /** Connection tokens `node#epoch#connId` of the open sockets that keep this device alive. */
  conns: string[];
  /** Last time a socket attached, for eviction order among socket-held devices. */
  lastConnectedAt: number;
  /** How the device ends if its deadline passes: a closed socket says DISCONNECTED, silence EXPIRED. */
  endReason?: 'DISCONNECTED' | 'EXPIRED';
}

/** A device as a viewer sees it. */
export interface DeviceView {
  id: string;
  type: DeviceType;
  status: PresenceStatus;
  connectedAt: number;
  lastSeenAt: number;
}

/** What one viewer sees of one user: the Presence GraphQL object, in epoch milliseconds. */
export interface PresenceView {
  userId: string;
  status: PresenceStatus;
  customStatus: string | null;
  activity: ActivityData | null;
  devices: DeviceView[];
  lastSeenAt: number | null;
  since: number | null;
  version: number;
}

/**
 * The last view a class of viewers was shown, minus the user id. Stored so the next
 * transition can tell whether that class sees a change (and so needs a new version).
 */
export type StoredView = Omit<PresenceView, 'userId'>;

/** A per-viewer frozen view created by a block. */
export interface BlockFreeze {
  view: StoredView;
  /** False once unblocked: the freeze lingers until the user is visibly online again. */
  blocked: boolean;
}

/** Everything about one user's presence that lives on that user's slot. */
export interface UserState {
  userId: string;
  preference: StatusPreference;
  customStatus: string | null;
  activity: ActivityData | null;
  devices: Record<string, DeviceState>;
  /** Latest moment the user was seen (heartbeat, socket activity, own mutation). */
  lastSeenAt: number | null;
  self: StoredView;
  contact: StoredView;
  blockFreezes: Record<string, BlockFreeze>;
  /** Per-user message sequence: each committed transition publishes seq + 1. */
  seq: number;
  /**
   * Connection tokens whose device was removed on purpose (goOffline, eviction) while the
   * socket stayed open: such a socket never re-asserts its device on its own. Bounded.
   */
  revoked?: string[];
  /**
   * Incarnation of this state: set when it is first written. A store that lost its data
   * starts a new incarnation, so receivers can tell a restarted sequence from duplicates.
   */
  inc: string;
}

/** What a user's relation sets say about one other user (all read from the user's slot). */
export interface Relation {
  /** The other user is a contact. */
  contact: boolean;
  /** This user blocked the other one. */
  blocks: boolean;
  /** The other user blocked this one. */
  blockedBy: boolean;
}

export type ViewClass = 'self' | 'contact' | 'frozen' | 'stranger';

/** One event as one class of receivers gets it. */
export interface ViewEvent {
  view: PresenceView;
  reason: PresenceChangeReason;
  previousStatus: PresenceStatus;
}

/** A change in what one particular viewer sees (relations, blocks, freezes). */
export interface ViewerChange {
  cls: ViewClass;
  event: ViewEvent | null;
}

/**
 * What a committed transition of one user publishes on that user's channel. Receivers
 * pick, per local subscriber, `viewers[v]` if present, else the event of its class.
 */
export interface PresenceMessage {
  userId: string;
  inc: string;
  seq: number;
  at: number;
  self: ViewEvent | null;
  contact: ViewEvent | null;
  viewers: Record<string, ViewerChange>;
  /** Users whose relation with `userId` changed: their all-contacts subscriptions re-follow them. */
  relationChanged: string[];
}

/** A stranger's view, also what anyone sees of a user who has never been online. */
export function strangerView(userId: string): PresenceView {
  return {
    userId,
    status: 'OFFLINE',
    customStatus: null,
    activity: null,
    devices: [],
    lastSeenAt: null,
    since: null,
    version: 0,
  };
}

/** A brand-new user's state: never online, nothing chosen. */
export function emptyUserState(userId: string): UserState {
  const { version, status, customStatus, activity, devices, lastSeenAt, since } = strangerView(userId);
  const offline: StoredView = { version, status, customStatus, activity, devices, lastSeenAt, since };
  return {
    userId,
    preference: 'ONLINE',
    customStatus: null,
    activity: null,
    devices: {},
    lastSeenAt: null,
    self: { ...offline },
    contact: { ...offline },
    blockFreezes: {},
    seq: 0,
    inc: '',
  };
}
