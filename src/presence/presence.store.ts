/**
 * The seam between the presence rules and storage. Both implementations run the pure
 * `transition` atomically per user and publish each resulting message on the user's
 * channel exactly once.
 */
import type { EventEmitter } from 'node:events';
import { PresenceView, UserState, ViewClass } from './presence.model';
import { PresenceCommand, TransitionResult } from './presence.transition';

/** What one viewer sees of one user, with the user's message sequence at that moment. */
export interface ViewSnapshot {
  userId: string;
  cls: ViewClass;
  view: PresenceView;
  seq: number;
  inc: string;
}

/** A device deadline waiting to be checked by the sweeper. */
export interface DueEntry {
  userId: string;
  deviceId: string;
  deadline: number;
}

export interface OnlinePage {
  userIds: string[];
  cursor: string | null;
}

export interface PresenceStore {
  readonly backend: 'memory' | 'redis';
  /** Emits 'published' once per message this node committed. */
  readonly events: EventEmitter;
  /**
   * Applies one command to one user as one atomic step, publishing its message.
   * `gate` (a rate-limit check) must pass before anything is committed; the Redis store
   * starts it in the same tick as its read so both share one round trip.
   */
  apply(userId: string, command: PresenceCommand, gate?: () => Promise<void>): Promise<TransitionResult>;
  /** Reads raw states (missing users come back as never-online). One batched call. */
  readStates(userIds: readonly string[]): Promise<UserState[]>;
  /** What `viewerId` sees of each user, in order. One batched call. */
  readViews(viewerId: string, userIds: readonly string[]): Promise<ViewSnapshot[]>;
  contactsOf(userId: string): Promise<string[]>;
  /** Users that `userId` has blocked. */
  blocksOf(userId: string): Promise<string[]>;
  onlineUsers(first: number, after: string | null): Promise<OnlinePage>;
  /** Due device deadlines up to `now`, at most `limit` per bucket, from every bucket in one call. */
  dueEntries(now: number, limit: number): Promise<DueEntry[]>;
  /** Moves a due entry to `deadline`, or removes it (null), only if it still holds `entry.deadline`. */
  rescheduleDue(entry: DueEntry, deadline: number | null): Promise<void>;
  /** Devices holding a connection token of `nodeId` ("userId|deviceId"). */
  nodeDevices(nodeId: string): Promise<Array<{ userId: string; deviceId: string }>>;
  addNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void>;
  removeNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void>;
  /** True while the backing store answers. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** A fresh incarnation id for a state written for the first time. */
export function newIncarnation(now: number): string {
  return `${now.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Stable bucket of a due entry so one user's devices land in one bucket. */
export function dueBucketOf(userId: string, buckets: number): number {
  let hash = 2166136261;
  for (let i = 0; i < userId.length; i++) hash = Math.imul(hash ^ userId.charCodeAt(i), 16777619);
  return (hash >>> 0) % buckets;
}

/**
 * The due-index write a command needs before its state is committed. A heartbeat only
 * moves the entry later; a closed socket sets it (the grace period may end sooner). An
 * entry earlier than the state's deadline is harmless: the sweeper moves it on.
 */
export function deadlineBeforeCommit(command: PresenceCommand, now: number): { deadline: number; onlyLater: boolean } | null {
  switch (command.kind) {
    case 'heartbeat':
      return { deadline: now + command.ttlMs, onlyLater: true };
    case 'disconnect':
    case 'dropTokens':
      return { deadline: now + command.graceMs, onlyLater: false };
    default:
      return null;
  }
}

export function deviceIdOf(command: PresenceCommand): string | null {
  switch (command.kind) {
    case 'heartbeat':
    case 'connect':
      return command.device.id;
    case 'disconnect':
    case 'dropTokens':
    case 'expire':
      return command.deviceId;
    default:
      return null;
  }
}

export function relationOtherOf(command: PresenceCommand): string | null {
  return command.kind === 'setContact' || command.kind === 'setBlocks' || command.kind === 'setBlockedBy' ? command.other : null;
}
