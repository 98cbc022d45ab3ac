/**
 * The in-process store: one node, no Redis. A transition runs synchronously between
 * reading and writing a user's state, so JavaScript's single thread makes it atomic.
 */
import { EventEmitter } from 'node:events';
import { Clock } from '../../clock';
import { MemoryPubSub } from '../../realtime/pubsub';
import { Relation, UserState, emptyUserState } from '../presence.model';
import { DueEntry, OnlinePage, PresenceStore, ViewSnapshot, deadlineBeforeCommit, deviceIdOf, dueBucketOf, newIncarnation, relationOtherOf } from '../presence.store';
import { PresenceCommand, TransitionResult, transition, viewFor } from '../presence.transition';

const DUE_BUCKETS = 16;

export class MemoryPresenceStore implements PresenceStore {
  readonly backend = 'memory' as const;
  readonly events = new EventEmitter();
  private readonly states = new Map<string, UserState>();
  private readonly contacts = new Map<string, Set<string>>();
  private readonly blocks = new Map<string, Set<string>>();
  private readonly blockedBy = new Map<string, Set<string>>();
  private readonly due = Array.from({ length: DUE_BUCKETS }, () => new Map<string, DueEntry>());
  private readonly nodeSets = new Map<string, Set<string>>();
  private readonly online = new Set<string>();

  constructor(
    private readonly pubsub: MemoryPubSub,
    private readonly clock: Clock,
  ) {}

  private state(userId: string): UserState {
    return this.states.get(userId) ?? emptyUserState(userId);
  }

  private set(map: Map<string, Set<string>>, userId: string): Set<string> {
    let set = map.get(userId);
    if (!set) map.set(userId, (set = new Set()));
    return set;
  }

  private relation(userId: string, other: string): Relation {
    return {
      contact: this.contacts.get(userId)?.has(other) ?? false,
      blocks: this.blocks.get(userId)?.has(other) ?? false,
      blockedBy: this.blockedBy.get(userId)?.has(other) ?? false,
    };
  }

  async apply(userId: string, command: PresenceCommand, gate?: () => Promise<void>): Promise<TransitionResult> {
    if (gate) await gate();
    const now = this.clock.now();
    const deviceId = deviceIdOf(command);
    const due = deadlineBeforeCommit(command, now);
    if (deviceId !== null && due !== null) this.putDue({ userId, deviceId, deadline: due.deadline }, due.onlyLater);
    const other = relationOtherOf(command);
    const before = this.state(userId);
    if (!before.inc) before.inc = newIncarnation(now);
    const result = transition(before, command, now, other === null ? null : this.relation(userId, other));
    if (result.stateChanged) this.states.set(userId, result.state);
    const write = result.relationWrite;
    if (write) {
      const apply = (map: Map<string, Set<string>>, value: boolean | undefined): void => {
        if (value === true) this.set(map, userId).add(write.other);
        if (value === false) this.set(map, userId).delete(write.other);
      };
      apply(this.contacts, write.contact);
      apply(this.blocks, write.blocks);
      apply(this.blockedBy, write.blockedBy);
    }
    if (Object.keys(result.state.devices).length > 0) this.online.add(userId);
    else this.online.delete(userId);
    for (const removed of result.removedDevices) {
      const entry = this.due[dueBucketOf(userId, DUE_BUCKETS)].get(`${userId}|${removed}`);
      if (entry) this.rescheduleSync(entry, null);
    }
    if (result.message) {
      this.events.emit('published');
      this.pubsub.deliver(userId, result.message);
    }
    return result;
  }

  async readStates(userIds: readonly string[]): Promise<UserState[]> {
    return userIds.map((id) => this.state(id));
  }

  async readViews(viewerId: string, userIds: readonly string[]): Promise<ViewSnapshot[]> {
    const now = this.clock.now();
    return userIds.map((id) => {
      const state = this.state(id);
      const { cls, view } = viewFor(state, viewerId, this.relation(id, viewerId), now);
      return { userId: id, cls, view, seq: state.seq, inc: state.inc };
    });
  }

  async contactsOf(userId: string): Promise<string[]> {
    return [...(this.contacts.get(userId) ?? [])].sort();
  }

  async blocksOf(userId: string): Promise<string[]> {
    return [...(this.blocks.get(userId) ?? [])].sort();
  }

  async onlineUsers(first: number, after: string | null): Promise<OnlinePage> {
    const sorted = [...this.online].sort();
    const start = after === null ? 0 : sorted.findIndex((id) => id > after);
    if (start < 0) return { userIds: [], cursor: null };
    const userIds = sorted.slice(start, start + first);
    const more = start + first < sorted.length;
    return { userIds, cursor: more ? userIds[userIds.length - 1] : null };
  }

  private putDue(entry: DueEntry, onlyLater: boolean): void {
    const bucket = this.due[dueBucketOf(entry.userId, DUE_BUCKETS)];
    const key = `${entry.userId}|${entry.deviceId}`;
    const existing = bucket.get(key);
    const deadline = onlyLater ? Math.max(existing?.deadline ?? 0, entry.deadline) : entry.deadline;
    bucket.set(key, { ...entry, deadline });
  }

  async dueEntries(now: number, limit: number): Promise<DueEntry[]> {
    const out: DueEntry[] = [];
    for (const bucket of this.due) {
      let taken = 0;
      for (const entry of bucket.values()) {
        if (taken >= limit) break;
        if (entry.deadline <= now) {
          out.push({ ...entry });
          taken++;
        }
      }
    }
    return out;
  }

  private rescheduleSync(entry: DueEntry, deadline: number | null): void {
    const bucket = this.due[dueBucketOf(entry.userId, DUE_BUCKETS)];
    const key = `${entry.userId}|${entry.deviceId}`;
    const current = bucket.get(key);
    if (!current || current.deadline !== entry.deadline) return;
    if (deadline === null) bucket.delete(key);
    else bucket.set(key, { ...entry, deadline });
  }

  async rescheduleDue(entry: DueEntry, deadline: number | null): Promise<void> {
    this.rescheduleSync(entry, deadline);
  }

  async nodeDevices(nodeId: string): Promise<Array<{ userId: string; deviceId: string }>> {
    return [...(this.nodeSets.get(nodeId) ?? [])].map(splitMember);
  }

  async addNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void> {
    this.set(this.nodeSets, nodeId).add(`${userId}|${deviceId}`);
  }

  async removeNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void> {
    this.nodeSets.get(nodeId)?.delete(`${userId}|${deviceId}`);
  }

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/** "userId|deviceId" → parts; ids cannot contain "|". */
export function splitMember(member: string): { userId: string; deviceId: string } {
  const at = member.indexOf('|');
  return { userId: member.slice(0, at), deviceId: member.slice(at + 1) };
}
