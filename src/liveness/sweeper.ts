/**
 * The expiry guarantee: every node walks the due buckets a few times a second and runs
 * the `expire` transition for each device whose deadline has passed. The transition is
 * atomic per user, so when several nodes (or a keyspace notification) race on one device,
 * exactly one of them removes it and publishes the event.
 */
import { EventEmitter } from 'node:events';
import { Clock } from '../clock';
import { DueEntry, PresenceStore } from '../presence/presence.store';

export interface SweeperOptions {
  intervalMs: number;
  batch: number;
}

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pausedUntil = 0;
  /** Emits 'expired' (lateness ms) for metrics and 'error' is never emitted: failures are retried. */
  readonly events = new EventEmitter();

  constructor(
    private readonly store: PresenceStore,
    private readonly clock: Clock,
    private readonly options: SweeperOptions = { intervalMs: 200, batch: 200 },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweepOnce().then(() => undefined).finally(() => (this.running = null));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** After a store outage, wait before expiring anything: sockets first re-assert their devices. */
  pauseFor(ms: number): void {
    this.pausedUntil = this.clock.now() + ms;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over every bucket. Returns the number of devices removed. */
  async sweepOnce(): Promise<number> {
    if (this.clock.now() < this.pausedUntil || !this.store.isReady()) return 0;
    let entries: DueEntry[];
    try {
      entries = await this.store.dueEntries(this.clock.now(), this.options.batch);
    } catch {
      return 0; // the store is away; the next tick retries
    }
    // Devices of different users expire in parallel; each expiry is its own atomic step.
    const results = await Promise.all(entries.map((entry) => this.expire(entry)));
    return results.filter(Boolean).length;
  }

  /** The fast path: a keyspace notification said a device's TTL key expired. */
  async expireDevice(userId: string, deviceId: string): Promise<void> {
    // On failure the sweeper will find the due entry.
    await this.expireOnce(userId, deviceId, () => 0).catch(() => undefined);
  }

  /** Runs the expire transition for one entry and moves or drops its index entry. */
  async expire(entry: DueEntry): Promise<boolean> {
    try {
      const { keptUntil, removed } = await this.expireOnce(entry.userId, entry.deviceId, () => this.clock.now() - entry.deadline);
      // Kept by a socket (null) or a later deadline: re-index there; gone: drop the entry.
      await this.store.rescheduleDue(entry, keptUntil ?? null);
      return removed;
    } catch {
      return false; // retried on the next pass
    }
  }

  /** One expire transition; reports a removal (with how late it came) to 'expired' listeners. */
  private async expireOnce(userId: string, deviceId: string, lateMs: () => number): Promise<{ keptUntil?: number | null; removed: boolean }> {
    const result = await this.store.apply(userId, { kind: 'expire', deviceId });
    const removed = result.removedDevices.includes(deviceId);
    if (removed) this.events.emit('expired', lateMs());
    return { keptUntil: result.keptUntil, removed };
  }
}
