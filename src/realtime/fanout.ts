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

/** Where a follower in push mode hands its events. */
export interface EventReceiver {
  deliver(event: ViewEvent, at: number): void;
  /** The follower closed; called once. */
  end(): void;
}

/**
 * One followed user's channel on this node. The feed, not the follower, holds what each
 * follower has applied of this user, as [follower, state, follower, state, …] in one
 * array: the cheapest layout for the hot path (hand a message to every follower) and for
 * memory, which is mostly this.
 */
interface Feed {
  userId: string;
  entries: Array<Follower | FollowState>;
  ready: Promise<() => Promise<void>>;
}

/** The node's channel subscriptions, shared by all local followers. */
export class Fanout {
  private readonly feeds = new Map<string, Feed>();
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

  /**
   * Starts delivering `userId`'s messages to `follower`, with `state` as what it has
   * applied. Registers at once; `live` settles when the channel subscription is confirmed.
   * `userId` comes back as the feed's copy, so every follower keeps the same string.
   */
  attach(userId: string, follower: Follower, state: FollowState): { userId: string; live: Promise<unknown> } {
    let feed = this.feeds.get(userId);
    if (!feed) {
      const entries: Array<Follower | FollowState> = [];
      const ready = this.pubsub.listen(userId, (message) => {
        // A copy: a receiver may unfollow (or close) while the message is handed round.
        const round = entries.slice();
        for (let i = 0; i < round.length; i += 2) (round[i] as Follower).receive(message, round[i + 1] as FollowState);
      });
      const created: Feed = { userId, entries, ready };
      feed = created;
      this.feeds.set(userId, created);
      ready.catch(() => {
        if (this.feeds.get(userId) === created) this.feeds.delete(userId);
      });
    }
    feed.entries.push(follower, state);
    return { userId: feed.userId, live: feed.ready };
  }

  /** Where `follower`'s entry is in the feed's entries, or -1 (a scan of that user's local followers). */
  private indexIn(feed: Feed, follower: Follower): number {
    const { entries } = feed;
    for (let i = 0; i < entries.length; i += 2) if (entries[i] === follower) return i;
    return -1;
  }

  /** What `follower` has applied of `userId`, if it follows that user. */
  stateOf(userId: string, follower: Follower): FollowState | undefined {
    const feed = this.feeds.get(userId);
    if (!feed) return undefined;
    const at = this.indexIn(feed, follower);
    return at < 0 ? undefined : (feed.entries[at + 1] as FollowState);
  }

  async detach(userId: string, follower: Follower): Promise<void> {
    const feed = this.feeds.get(userId);
    if (!feed) return;
    const { entries } = feed;
    const at = this.indexIn(feed, follower);
    if (at < 0) return;
    (entries[at + 1] as FollowState).attached = false;
    // Order among followers does not matter: move the last entry into the gap.
    const last = entries.length - 2;
    entries[at] = entries[last] as Follower;
    entries[at + 1] = entries[last + 1] as FollowState;
    entries.length = last;
    if (last > 0) return;
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

const CLASSES: readonly ViewClass[] = ['self', 'contact', 'frozen', 'stranger'];
const STATUSES: readonly PresenceStatus[] = ['ONLINE', 'AWAY', 'BUSY', 'INVISIBLE', 'OFFLINE'];
const ATTACHED = 1 << 5;
const BUFFERING = 1 << 6;

/**
 * What one follower has applied of one followed user. A node holds 20 or so of these per
 * subscription, so view class, status and the attached flag share one small integer
 * (every field is 8 bytes here).
 */
export class FollowState {
  /** Bits 0-1: class index; 2-4: status index; 5: attached; 6: buffering. */
  private bits = CLASSES.indexOf('stranger') | (STATUSES.indexOf('OFFLINE') << 2) | ATTACHED | BUFFERING;
  version = 0;
  seq = -1;
  inc = '';

  get cls(): ViewClass {
    return CLASSES[this.bits & 3] as ViewClass;
  }

  set cls(value: ViewClass) {
    this.bits = (this.bits & ~3) | CLASSES.indexOf(value);
  }

  get status(): PresenceStatus {
    return STATUSES[(this.bits >> 2) & 7] as PresenceStatus;
  }

  set status(value: PresenceStatus) {
    this.bits = (this.bits & ~(7 << 2)) | (STATUSES.indexOf(value) << 2);
  }

  /** False once the follower let go of the user: a message already on its way is ignored. */
  get attached(): boolean {
    return (this.bits & ATTACHED) !== 0;
  }

  set attached(value: boolean) {
    this.bits = value ? this.bits | ATTACHED : this.bits & ~ATTACHED;
  }

  /** A snapshot is being read: messages are held (by the follower) until it is applied. */
  get buffering(): boolean {
    return (this.bits & BUFFERING) !== 0;
  }

  set buffering(value: boolean) {
    this.bits = value ? this.bits | BUFFERING : this.bits & ~BUFFERING;
  }
}

export interface FollowOptions {
  viewerId: string;
  /** null: all contacts, live. */
  userIds: string[] | null;
  initial: boolean;
}

type StartReason = 'INITIAL' | 'CONTACT_ADDED' | 'SILENT' | null;

const visible = (cls: ViewClass): boolean => cls !== 'stranger';

function derivedReason(prevStatus: PresenceStatus, next: PresenceView): PresenceChangeReason {
  if (prevStatus === 'OFFLINE' && next.status !== 'OFFLINE') return 'CONNECTED';
  if (prevStatus !== 'OFFLINE' && next.status === 'OFFLINE') return 'DISCONNECTED';
  if (prevStatus !== next.status) return 'STATUS_CHANGED';
  return 'PROFILE_CHANGED';
}

/**
 * One presenceChanged subscription. Events come out of `next()` (or go to the push
 * callback) in the order they were produced; per followed user, versions only go up
 * (view-starting events excepted). Its per-user state lives in the feeds (Fanout.attach).
 */
export class Follower {
  /** Users followed, as the feeds' copies of their ids. */
  private followed: string[] = [];
  /** Events produced before anyone asked for them (INITIAL events, mostly); emptied for good in push mode. */
  private queue: DeliveredEvent[] = [];
  private waiter: ((r: IteratorResult<DeliveredEvent>) => void) | null = null;
  /** Push mode (see deliverTo): events go here in the turn they are produced. */
  private direct: EventReceiver | null = null;
  private closed = false;
  /** Per-user chains of resyncs/follows in flight; created on first use (most followers never need one). */
  private pending: Map<string, Promise<void>> | null = null;
  /** Messages held for follow states that are reading a snapshot; null when there are none. */
  private held: Map<FollowState, PresenceMessage[]> | null = null;

  private readonly viewerId: string;
  /** null: all contacts, live. */
  private readonly userIds: string[] | null;
  private readonly initial: boolean;

  constructor(
    private readonly fanout: Fanout,
    options: FollowOptions,
  ) {
    // Kept as fields, not as the options object: one object less per subscription.
    this.viewerId = options.viewerId;
    this.userIds = options.userIds;
    this.initial = options.initial;
  }

  private get allContacts(): boolean {
    return this.userIds === null;
  }

  private stateOf(userId: string): FollowState | undefined {
    return this.fanout.stateOf(userId, this);
  }

  /** Reads the snapshot and queues INITIAL events; resolves when the subscription is live. */
  async start(): Promise<void> {
    this.fanout.register(this);
    try {
      const { viewerId } = this;
      let targets: string[];
      if (this.userIds === null) {
        // The viewer's own channel carries the hints that a contact was added or removed.
        await this.fanout.attach(viewerId, this, new FollowState()).live;
        targets = await this.fanout.store.contactsOf(viewerId);
      } else {
        targets = [...new Set(this.userIds)];
      }
      await this.followMany(targets, this.initial ? 'INITIAL' : 'SILENT');
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
    if (this.closed) return;
    const fresh = userIds.filter((id) => !this.followed.includes(id));
    const states = new Map<string, FollowState>();
    const attached = fresh.map((id) => {
      const state = new FollowState();
      states.set(id, state);
      return this.fanout.attach(id, this, state);
    });
    // One exactly sized array per follower (push would leave room for twice as many).
    const ids = attached.map((a) => a.userId);
    this.followed = this.followed.length === 0 ? ids : this.followed.concat(ids);
    await Promise.all(attached.map((a) => a.live));
    if (this.closed) return;
    const snapshots = await this.fanout.store.readViews(this.viewerId, fresh);
    for (const snap of snapshots) {
      const state = states.get(snap.userId);
      if (state) this.applySnapshot(snap, startReason, state);
    }
  }

  private applySnapshot(snap: ViewSnapshot, startReason: StartReason, state: FollowState): void {
    if (!state.attached) return;
    const buffered = this.release(state);
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
      state.status = snap.view.status;
      state.seq = snap.seq;
      state.inc = this.fanout.internIncarnation(snap.userId, snap.inc);
    }
    for (const message of buffered) this.apply(message, state);
  }

  /** Called by the feed of a followed user for every message on its channel, with this follower's state there. */
  receive(message: PresenceMessage, state: FollowState): void {
    if (this.closed || !state.attached) return;
    if (this.allContacts && message.userId === this.viewerId) {
      // The viewer's own channel: only its relation hints matter here.
      for (const other of message.relationChanged) this.refollow(other);
      return;
    }
    if (state.buffering) {
      const held = (this.held ??= new Map());
      const messages = held.get(state);
      if (messages) messages.push(message);
      else held.set(state, [message]);
      return;
    }
    this.apply(message, state);
  }

  /** Ends buffering for `state` and returns what was held for it. */
  private release(state: FollowState): PresenceMessage[] {
    state.buffering = false;
    const messages = this.held?.get(state) ?? [];
    this.held?.delete(state);
    if (this.held?.size === 0) this.held = null;
    return messages;
  }

  private apply(message: PresenceMessage, state: FollowState): void {
    if (!state.attached || state.buffering) return;
    const sameIncarnation = message.inc === state.inc || (state.inc === '' && message.seq === 1);
    if (sameIncarnation && message.seq <= state.seq) return;
    if (!sameIncarnation || message.seq > state.seq + 1) {
      // Messages were lost on the way (a subscriber reconnect, an output-buffer limit).
      this.resync(message.userId);
      return;
    }
    state.seq = message.seq;
    if (state.inc !== message.inc) state.inc = this.fanout.internIncarnation(message.userId, message.inc);
    const own = message.viewers[this.viewerId];
    const event = own ? own.event : state.cls === 'self' ? message.self : state.cls === 'contact' ? message.contact : null;
    if (own) state.cls = own.cls;
    if (event) {
      const startsView = event.reason === 'CONTACT_ADDED' || event.reason === 'CONTACT_REMOVED';
      if (startsView || event.view.version > state.version) {
        state.version = event.view.version;
        state.status = event.view.status;
        this.push(event, message.at);
      }
    }
    // A contact removed from an all-contacts subscription is dropped; a later relation hint follows it again.
    if (this.allContacts && own?.cls === 'stranger' && message.userId !== this.viewerId) void this.unfollow(message.userId);
  }

  /** A relation of the viewer changed: follow the user again (all-contacts subscriptions). */
  private refollow(userId: string): void {
    if (userId === this.viewerId || this.followed.includes(userId)) return;
    this.serialize(userId, () => this.followMany([userId], 'CONTACT_ADDED'));
  }

  private async unfollow(userId: string): Promise<void> {
    // `followed` holds the feeds' copies of the ids: equal strings, compared by value.
    const at = this.followed.indexOf(userId);
    if (at < 0) return;
    this.followed.splice(at, 1);
    await this.fanout.detach(userId, this);
  }

  /** Re-reads one user and emits the difference; serialized per user. */
  resync(userId: string): void {
    const state = this.stateOf(userId);
    if (!state || state.buffering) return;
    state.buffering = true;
    this.serialize(userId, async () => {
      const [snap] = await this.fanout.store.readViews(this.viewerId, [userId]);
      if (snap) this.applySnapshot(snap, null, state);
    });
  }

  resyncEverything(): void {
    for (const userId of this.followed) this.resync(userId);
    if (this.allContacts) {
      this.serialize('\u0000contacts', async () => {
        const contacts = await this.fanout.store.contactsOf(this.viewerId);
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
        const state = this.stateOf(key);
        if (state) this.release(state);
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
   * Switches to push mode: what is queued goes to `receiver` now, later events as they are
   * produced, and its `end` runs once when the follower closes. `next()` is not used after this.
   */
  deliverTo(receiver: EventReceiver): void {
    this.direct = receiver;
    const queued = this.queue;
    // Push mode never queues again: drop the array and the room its INITIAL events made.
    this.queue = [];
    for (let i = 0; i < queued.length && !this.closed; i++) receiver.deliver(queued[i].event, queued[i].at);
    if (this.closed) receiver.end();
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
    const users = this.followed;
    this.followed = [];
    if (this.allContacts) users.push(this.viewerId);
    await Promise.all(users.map((id) => this.fanout.detach(id, this)));
  }
}
