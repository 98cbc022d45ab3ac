/**
 * Node-local fan-out. A node listens once per followed user (ref-counted across its
 * subscriptions) on that user's channel; each subscription (a Follower) keeps, per
 * followed user, the view class, version and message sequence it has applied, and turns
 * each message into at most one event shaped for its viewer.
 *
 * Order of a follow: listen (confirmed) → buffer → read snapshot (view + seq) → emit →
 * apply buffered messages newer than the snapshot. A sequence gap, or a pub/sub
 * reconnect, makes the follower re-read that user and emit what it missed.
 */
import { Clock } from '../clock';
import { PresenceChangeReason, PresenceMessage, PresenceStatus, PresenceView, ViewClass, ViewEvent, strangerView } from '../presence/presence.model';
import { PresenceStore, ViewSnapshot } from '../presence/presence.store';
import { PresencePubSub } from './pubsub';

/** One event ready for one receiver. */
export interface DeliveredEvent {
  event: ViewEvent;
  at: number;
}

interface FeedEntry {
  listeners: Set<Follower>;
  ready: Promise<() => Promise<void>>;
}

/** The node's channel subscriptions, shared by all local followers. */
export class Fanout {
  private readonly feeds = new Map<string, FeedEntry>();
  private readonly followers = new Set<Follower>();
  /** Events handed to subscribers so far (read by /metrics; a plain counter keeps the hot path cheap). */
  delivered = 0;

  constructor(
    readonly store: PresenceStore,
    private readonly pubsub: PresencePubSub,
    readonly clock: Clock,
  ) {
    pubsub.onGap(() => this.resyncAll());
  }

  /** Starts delivering `userId`'s messages to `follower`; resolves once the channel is live. */
  async attach(userId: string, follower: Follower): Promise<void> {
    let feed = this.feeds.get(userId);
    if (!feed) {
      const listeners = new Set<Follower>();
      const ready = this.pubsub.listen(userId, (message) => {
        for (const f of [...listeners]) f.receive(message);
      });
      feed = { listeners, ready };
      this.feeds.set(userId, feed);
      ready.catch(() => {
        if (this.feeds.get(userId) === feed) this.feeds.delete(userId);
      });
    }
    feed.listeners.add(follower);
    await feed.ready;
  }

  async detach(userId: string, follower: Follower): Promise<void> {
    const feed = this.feeds.get(userId);
    if (!feed) return;
    feed.listeners.delete(follower);
    if (feed.listeners.size > 0) return;
    this.feeds.delete(userId);
    try {
      await (await feed.ready)();
    } catch {
      // The channel never came up or the connection is gone: nothing left to release.
    }
  }

  register(follower: Follower): void {
    this.followers.add(follower);
  }

  unregister(follower: Follower): void {
    this.followers.delete(follower);
  }

  /** After a pub/sub reconnect or a store outage: every follower re-reads what it follows. */
  resyncAll(): void {
    for (const f of this.followers) f.resyncEverything();
  }

  private readonly incarnations = new Map<string, string>();

  /**
   * One string per user incarnation on this node: follow states keep a reference to it
   * instead of each holding its own copy parsed from Redis.
   */
  internIncarnation(userId: string, inc: string): string {
    if (inc === '') return '';
    const known = this.incarnations.get(userId);
    if (known === inc) return known;
    if (this.incarnations.size > 100_000) this.incarnations.clear();
    this.incarnations.set(userId, inc);
    return inc;
  }

  /** Users with a live channel subscription on this node. */
  feedCount(): number {
    return this.feeds.size;
  }

  followerCount(): number {
    return this.followers.size;
  }
}

interface FollowState {
  cls: ViewClass;
  version: number;
  status: PresenceStatus;
  seq: number;
  inc: string;
  /** Messages that arrived while the snapshot was being read. */
  buffer: PresenceMessage[] | null;
}

export interface FollowOptions {
  viewerId: string;
  /** null: all contacts, live. */
  userIds: string[] | null;
  initial: boolean;
}

/** Status strings as constants, so follow states do not each keep a copy parsed from a message. */
const CANONICAL_STATUS: Record<PresenceStatus, PresenceStatus> = { ONLINE: 'ONLINE', AWAY: 'AWAY', BUSY: 'BUSY', INVISIBLE: 'INVISIBLE', OFFLINE: 'OFFLINE' };

const CANONICAL_CLASS: Record<ViewClass, ViewClass> = { self: 'self', contact: 'contact', frozen: 'frozen', stranger: 'stranger' };

type StartReason = 'INITIAL' | 'CONTACT_ADDED' | 'SILENT' | null;

const visible = (cls: ViewClass): boolean => cls !== 'stranger';

function derivedReason(prevStatus: PresenceStatus, next: PresenceView): PresenceChangeReason {
  if (prevStatus === 'OFFLINE' && next.status !== 'OFFLINE') return 'CONNECTED';
  if (prevStatus !== 'OFFLINE' && next.status === 'OFFLINE') return 'DISCONNECTED';
  if (prevStatus !== next.status) return 'STATUS_CHANGED';
  return 'PROFILE_CHANGED';
}

/**
 * One presenceChanged subscription. Events come out of `next()` in the order they were
 * produced; per followed user, versions only go up (view-starting events excepted).
 */
export class Follower {
  private readonly follows = new Map<string, FollowState>();
  private readonly queue: DeliveredEvent[] = [];
  private waiter: ((r: IteratorResult<DeliveredEvent>) => void) | null = null;
  /** Push mode (see deliverTo): events go to this callback in the turn they are produced. */
  private direct: { deliver: (event: ViewEvent, at: number) => void; end: () => void } | null = null;
  private closed = false;
  /** Per-user chains of resyncs/follows in flight; created on first use (most followers never need one). */
  private pending: Map<string, Promise<void>> | null = null;

  constructor(
    private readonly fanout: Fanout,
    private readonly options: FollowOptions,
  ) {}

  private get allContacts(): boolean {
    return this.options.userIds === null;
  }

  /** Reads the snapshot and queues INITIAL events; resolves when the subscription is live. */
  async start(): Promise<void> {
    this.fanout.register(this);
    try {
      const { viewerId } = this.options;
      let targets: string[];
      if (this.options.userIds === null) {
        // The viewer's own channel carries the hints that a contact was added or removed.
        await this.fanout.attach(viewerId, this);
        targets = await this.fanout.store.contactsOf(viewerId);
      } else {
        targets = [...new Set(this.options.userIds)];
      }
      await this.followMany(targets, this.options.initial ? 'INITIAL' : 'SILENT');
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Follows users not followed yet. `startReason` says what a visible user's snapshot
   * emits: INITIAL or CONTACT_ADDED, nothing (SILENT), or null for a resync diff.
   */
  private async followMany(userIds: string[], startReason: StartReason): Promise<void> {
    const fresh = userIds.filter((id) => !this.follows.has(id));
    for (const id of fresh) this.follows.set(id, { cls: 'stranger', version: 0, status: 'OFFLINE', seq: -1, inc: '', buffer: [] });
    await Promise.all(fresh.map((id) => this.fanout.attach(id, this)));
    if (this.closed) return;
    const snapshots = await this.fanout.store.readViews(this.options.viewerId, fresh);
    for (const snap of snapshots) this.applySnapshot(snap, startReason);
  }

  private applySnapshot(snap: ViewSnapshot, startReason: StartReason): void {
    const state = this.follows.get(snap.userId);
    if (!state) return;
    const buffered = state.buffer ?? [];
    state.buffer = null;
    // A new incarnation (the store lost its data) restarts the sequence.
    if (snap.seq >= state.seq || snap.inc !== state.inc) {
      const wasVisible = visible(state.cls);
      const nowVisible = visible(snap.cls);
      const at = this.fanout.clock.now();
      if (startReason === 'INITIAL' || startReason === 'CONTACT_ADDED') {
        if (nowVisible) this.push({ view: snap.view, reason: startReason, previousStatus: 'OFFLINE' }, at);
      } else if (startReason === null && state.seq >= 0) {
        // A resync: report what this viewer missed, if anything.
        if (wasVisible && !nowVisible) {
          this.push({ view: strangerView(snap.userId), reason: 'CONTACT_REMOVED', previousStatus: state.status }, at);
        } else if (!wasVisible && nowVisible) {
          this.push({ view: snap.view, reason: 'CONTACT_ADDED', previousStatus: 'OFFLINE' }, at);
        } else if (nowVisible && snap.view.version > state.version) {
          this.push({ view: snap.view, reason: derivedReason(state.status, snap.view), previousStatus: state.status }, at);
        }
      }
      state.cls = snap.cls;
      state.version = snap.view.version;
      state.status = CANONICAL_STATUS[snap.view.status];
      state.seq = snap.seq;
      state.inc = this.fanout.internIncarnation(snap.userId, snap.inc);
    }
    for (const message of buffered) this.apply(message);
  }

  /** Called by the feed for every message on a followed user's channel. */
  receive(message: PresenceMessage): void {
    if (this.closed) return;
    if (this.allContacts && message.userId === this.options.viewerId) {
      for (const other of message.relationChanged) this.refollow(other);
      if (!this.follows.has(message.userId)) return;
    }
    const state = this.follows.get(message.userId);
    if (!state) return;
    if (state.buffer) {
      state.buffer.push(message);
      return;
    }
    this.apply(message);
  }

  private apply(message: PresenceMessage): void {
    const state = this.follows.get(message.userId);
    if (!state || state.buffer) return;
    const sameIncarnation = message.inc === state.inc || (state.inc === '' && message.seq === 1);
    if (sameIncarnation && message.seq <= state.seq) return;
    if (!sameIncarnation || message.seq > state.seq + 1) {
      // Messages were lost on the way (a subscriber reconnect, an output-buffer limit).
      this.resync(message.userId);
      return;
    }
    state.seq = message.seq;
    if (state.inc !== message.inc) state.inc = this.fanout.internIncarnation(message.userId, message.inc);
    const own = message.viewers[this.options.viewerId];
    const event = own ? own.event : state.cls === 'self' ? message.self : state.cls === 'contact' ? message.contact : null;
    if (own) state.cls = CANONICAL_CLASS[own.cls];
    if (event) {
      const startsView = event.reason === 'CONTACT_ADDED' || event.reason === 'CONTACT_REMOVED';
      if (startsView || event.view.version > state.version) {
        state.version = event.view.version;
        state.status = CANONICAL_STATUS[event.view.status];
        this.push(event, message.at);
      }
    }
    // A contact removed from an all-contacts subscription is dropped; a later relation hint follows it again.
    if (this.allContacts && own?.cls === 'stranger' && message.userId !== this.options.viewerId) void this.unfollow(message.userId);
  }

  /** A relation of the viewer changed: follow the user again (all-contacts subscriptions). */
  private refollow(userId: string): void {
    if (this.follows.has(userId) || userId === this.options.viewerId) return;
    this.serialize(userId, () => this.followMany([userId], 'CONTACT_ADDED'));
  }

  private async unfollow(userId: string): Promise<void> {
    if (!this.follows.delete(userId)) return;
    await this.fanout.detach(userId, this);
  }

  /** Re-reads one user and emits the difference; serialized per user. */
  resync(userId: string): void {
    const state = this.follows.get(userId);
    if (!state || state.buffer) return;
    state.buffer = [];
    this.serialize(userId, async () => {
      const [snap] = await this.fanout.store.readViews(this.options.viewerId, [userId]);
      if (snap) this.applySnapshot(snap, null);
    });
  }

  resyncEverything(): void {
    for (const userId of this.follows.keys()) this.resync(userId);
    if (this.allContacts) {
      this.serialize('\u0000contacts', async () => {
        const contacts = await this.fanout.store.contactsOf(this.options.viewerId);
        await this.followMany(contacts, 'CONTACT_ADDED');
      });
    }
  }

  private serialize(key: string, task: () => Promise<void>): void {
    const pending = (this.pending ??= new Map());
    const previous = pending.get(key) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch(() => {
        // The store is away; the reconnect triggers another resync.
        const state = this.follows.get(key);
        if (state) state.buffer = null;
      })
      .finally(() => {
        if (pending.get(key) === next) pending.delete(key);
      });
    pending.set(key, next);
  }

  /** Hands one event on: straight to the push callback, else to a waiting or later `next()`. */
  private push(event: ViewEvent, at: number): void {
    if (this.closed) return;
    this.fanout.delivered++;
    if (this.direct) {
      this.direct.deliver(event, at);
      return;
    }
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter({ value: { event, at }, done: false });
    } else {
      this.queue.push({ event, at });
    }
  }

  /**
   * Switches to push mode: what is queued goes to `deliver` now, later events as they are
   * produced, and `end` runs once when the follower closes. `next()` is not used after this.
   */
  deliverTo(deliver: (event: ViewEvent, at: number) => void, end: () => void): void {
    this.direct = { deliver, end };
    for (let queued = this.queue.shift(); queued && !this.closed; queued = this.queue.shift()) deliver(queued.event, queued.at);
    if (this.closed) end();
  }

  next(): Promise<IteratorResult<DeliveredEvent>> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Stops the subscription and releases its channel subscriptions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fanout.unregister(this);
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.({ value: undefined, done: true });
    this.direct?.end();
    const users = [...this.follows.keys()];
    if (this.allContacts && !this.follows.has(this.options.viewerId)) users.push(this.options.viewerId);
    this.follows.clear();
    await Promise.all(users.map((id) => this.fanout.detach(id, this)));
  }
}
