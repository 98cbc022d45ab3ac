/**
 * Presence use cases: validates input at the edge, enforces limits, and turns each
 * request into store commands. Resolvers call this and nothing below it.
 */
import { Clock } from '../clock';
import { Config, nextHeartbeatSeconds } from '../config';
import { BadUserInputError, ForbiddenError } from '../errors';
import { Viewer } from '../auth/token';
import { PresenceView } from './presence.model';
import { OnlinePage, PresenceStore, ViewSnapshot } from './presence.store';
import { DeviceParams, StatusChange, TransitionResult, viewOfClass } from './presence.transition';
import { assertId, assertIds, assertText, assertUrl } from './presence.validation';

export interface HeartbeatOutcome {
  presence: PresenceView;
  ttlSeconds: number;
  nextHeartbeatInSeconds: number;
}

/** Checks one mutation against the per-user budget; throws RATE_LIMITED when spent. */
export interface MutationLimiter {
  consume(userId: string): Promise<void>;
}

const MAX_ONLINE_PAGE = 1000;
/** Parallel store steps in one admin mutation: enough to overlap round trips, few enough to stay fair. */
const RELATION_CONCURRENCY = 32;

async function inChunks<T>(items: readonly T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

export class PresenceService {
  constructor(
    private readonly store: PresenceStore,
    private readonly config: Config,
    private readonly limiter: MutationLimiter,
    private readonly clock: Clock,
  ) {}

  private selfView(result: TransitionResult): PresenceView {
    return viewOfClass(result.state, 'self', result.state.userId, this.clock.now());
  }

  /** The viewer's mutation budget as a store gate: spent before anything is committed. */
  private budget(viewer: Viewer): () => Promise<void> {
    return () => this.limiter.consume(viewer.userId);
  }

  /** Validates a device input and fills in its defaults. */
  deviceParams(device: Partial<DeviceParams> | null | undefined): DeviceParams {
    const params: DeviceParams = { id: device?.id ?? 'default', type: device?.type ?? 'WEB', idle: device?.idle ?? false };
    assertId(params.id, 'device.id');
    return params;
  }

  async heartbeat(viewer: Viewer, device: Partial<DeviceParams> | null | undefined): Promise<HeartbeatOutcome> {
    const params = this.deviceParams(device);
    const result = await this.store.apply(
      viewer.userId,
      { kind: 'heartbeat', device: params, ttlMs: this.config.ttlSeconds * 1000, maxDevices: this.config.maxDevices },
      this.budget(viewer),
    );
    return {
      presence: this.selfView(result),
      ttlSeconds: this.config.ttlSeconds,
      nextHeartbeatInSeconds: nextHeartbeatSeconds(this.config.ttlSeconds),
    };
  }

  async setStatus(viewer: Viewer, change: StatusChange): Promise<PresenceView> {
    assertText(change.customStatus, 'customStatus');
    if (change.activity) {
      assertText(change.activity.name, 'activity.name');
      if (change.activity.name.length === 0) throw new BadUserInputError('activity.name must not be empty', 'activity.name');
      assertUrl(change.activity.url, 'activity.url');
    }
    return this.selfView(await this.store.apply(viewer.userId, { kind: 'setStatus', change }, this.budget(viewer)));
  }

  async goOffline(viewer: Viewer, deviceId: string | null | undefined): Promise<PresenceView> {
    if (deviceId !== null && deviceId !== undefined) assertId(deviceId, 'deviceId');
    return this.selfView(await this.store.apply(viewer.userId, { kind: 'goOffline', deviceId: deviceId ?? null }, this.budget(viewer)));
  }

  /** The viewer blocks `userId`: written on the viewer's slot, then on the blocked user's. */
  async setBlocked(viewer: Viewer, userId: string, blocked: boolean): Promise<boolean> {
    assertId(userId, 'userId');
    if (userId === viewer.userId) throw new BadUserInputError('A user cannot block themself', 'userId');
    await this.limiter.consume(viewer.userId);
    const own = await this.store.apply(viewer.userId, { kind: 'setBlocks', other: userId, blocks: blocked });
    await this.store.apply(userId, { kind: 'setBlockedBy', other: viewer.userId, blockedBy: blocked });
    return own.relationChanged === true;
  }

  private async linkContacts(userId: string, others: readonly string[], contact: boolean): Promise<void> {
    await inChunks(others, RELATION_CONCURRENCY, async (other) => {
      await this.store.apply(userId, { kind: 'setContact', other, contact });
      await this.store.apply(other, { kind: 'setContact', other: userId, contact });
    });
  }

  private checkContactArgs(viewer: Viewer, userId: string, contactIds: readonly string[]): string[] {
    if (!viewer.admin) throw new ForbiddenError();
    assertId(userId, 'userId');
    assertIds(contactIds, 'contactIds', this.config.maxUserIds);
    if (contactIds.includes(userId)) throw new BadUserInputError('A user cannot be their own contact', 'contactIds');
    return [...new Set(contactIds)];
  }

  /** Admin: contact list changes, mutual; returns userId's whole list afterwards. */
  async changeContacts(viewer: Viewer, mode: 'set' | 'add' | 'remove', userId: string, contactIds: readonly string[]): Promise<string[]> {
    const ids = this.checkContactArgs(viewer, userId, contactIds);
    await this.limiter.consume(viewer.userId);
    const current = new Set(await this.store.contactsOf(userId));
    const wanted = new Set(ids);
    if (mode === 'set') {
      await this.linkContacts(userId, [...current].filter((id) => !wanted.has(id)), false);
      await this.linkContacts(userId, ids.filter((id) => !current.has(id)), true);
    } else if (mode === 'add') {
      // Re-linking known contacts too makes a retry after a partial failure converge.
      await this.linkContacts(userId, ids, true);
    } else {
      await this.linkContacts(userId, ids, false);
    }
    return this.store.contactsOf(userId);
  }

  /** Batched reads for one request's DataLoader. */
  async views(viewer: Viewer, userIds: readonly string[]): Promise<ViewSnapshot[]> {
    return this.store.readViews(viewer.userId, userIds);
  }

  checkUserIds(userIds: readonly string[], what = 'userIds'): void {
    assertIds(userIds, what, this.config.maxUserIds);
  }

  /** Contacts that the viewer has not blocked, with the presence the viewer may see. */
  async contacts(viewer: Viewer, onlineOnly: boolean): Promise<PresenceView[]> {
    const [contacts, blocks] = await Promise.all([this.store.contactsOf(viewer.userId), this.store.blocksOf(viewer.userId)]);
    const blocked = new Set(blocks);
    const snapshots = await this.store.readViews(viewer.userId, contacts.filter((c) => !blocked.has(c)));
    return snapshots.map((s) => s.view).filter((v) => !onlineOnly || v.status !== 'OFFLINE');
  }

  async blockedUsers(viewer: Viewer): Promise<string[]> {
    return this.store.blocksOf(viewer.userId);
  }

  async onlineUsers(viewer: Viewer, first: number, after: string | null | undefined): Promise<OnlinePage> {
    if (!viewer.admin) throw new ForbiddenError();
    if (!Number.isInteger(first) || first < 1 || first > MAX_ONLINE_PAGE) {
      throw new BadUserInputError(`first must be from 1 to ${MAX_ONLINE_PAGE}`, 'first');
    }
    let cursor: string | null = null;
    if (after !== null && after !== undefined) {
      cursor = Buffer.from(after, 'base64url').toString('utf8');
      if (!cursor.startsWith('c:')) throw new BadUserInputError('after is not a cursor returned by onlineUsers', 'after');
      cursor = cursor.slice(2);
    }
    const page = await this.store.onlineUsers(first, cursor);
    return { userIds: page.userIds, cursor: page.cursor === null ? null : Buffer.from(`c:${page.cursor}`).toString('base64url') };
  }
}
