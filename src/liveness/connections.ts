/**
 * Socket-held devices of this node. A socket whose connectionParams name a device adds a
 * connection token `node#epoch#connId` to that device; the node's lease (not one write
 * per socket) keeps those tokens alive. When the last local socket of a device closes,
 * the device gets the disconnect grace period; a reconnect on any node before it ends
 * keeps it online without an event.
 *
 * Index order: the node-set entry is written before the first token and removed after
 * the last local token is gone, serialized per device so the two never cross.
 */
import { randomUUID } from 'node:crypto';
import { Config } from '../config';
import { PresenceStore } from '../presence/presence.store';
import { DeviceParams, connectionToken } from '../presence/presence.transition';

export interface LiveConnection {
  userId: string;
  device: DeviceParams;
  connId: string;
  /** The token currently written for this socket (changes when the epoch changes). */
  token: string;
}

export class ConnectionRegistry {
  readonly nodeId: string;
  private epochValue = 1;
  private readonly byDevice = new Map<string, Set<LiveConnection>>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly store: PresenceStore,
    private readonly config: Config,
    nodeId?: string,
  ) {
    this.nodeId = nodeId ?? randomUUID().slice(0, 13);
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** Number of open sockets that hold a device. */
  size(): number {
    let n = 0;
    for (const set of this.byDevice.values()) n += set.size;
    return n;
  }

  private serialize(key: string, task: () => Promise<void>): Promise<void> {
    const run = (this.chains.get(key) ?? Promise.resolve()).catch(() => undefined).then(task);
    const tail = run.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  /** A socket with a device opened: the device is online while it (or another socket) stays. */
  async open(userId: string, device: DeviceParams): Promise<LiveConnection> {
    const conn: LiveConnection = { userId, device, connId: randomUUID().slice(0, 8), token: '' };
    conn.token = connectionToken(this.nodeId, this.epochValue, conn.connId);
    const key = `${userId}|${device.id}`;
    await this.serialize(key, async () => {
      let set = this.byDevice.get(key);
      if (!set) this.byDevice.set(key, (set = new Set()));
      set.add(conn);
      await this.store.addNodeDevice(this.nodeId, userId, device.id);
      await this.store.apply(userId, { kind: 'connect', device, token: conn.token, maxDevices: this.config.maxDevices });
    });
    return conn;
  }

  /** The socket closed: remove its token; the last one starts the grace period. */
  async close(conn: LiveConnection): Promise<void> {
    const key = `${conn.userId}|${conn.device.id}`;
    await this.serialize(key, async () => {
      const set = this.byDevice.get(key);
      set?.delete(conn);
      await this.store.apply(conn.userId, {
        kind: 'disconnect',
        deviceId: conn.device.id,
        token: conn.token,
        graceMs: this.config.disconnectGraceSeconds * 1000,
      });
      if (set && set.size === 0) {
        this.byDevice.delete(key);
        await this.store.removeNodeDevice(this.nodeId, conn.userId, conn.device.id);
      }
    });
  }

  /**
   * The lease lapsed (a pause longer than its TTL) or Redis lost its data: take a new
   * epoch and write every open socket's device again, skipping devices that were
   * removed on purpose (their state exists without them).
   */
  async reassert(newEpoch: boolean, onlyLostUsers: boolean): Promise<void> {
    if (newEpoch) this.epochValue += 1;
    const all = [...this.byDevice.values()].flatMap((set) => [...set]);
    const states = new Map((await this.store.readStates([...new Set(all.map((c) => c.userId))])).map((s) => [s.userId, s]));
    await Promise.all(
      all.map(async (conn) => {
        const state = states.get(conn.userId);
        const device = state?.devices[conn.device.id];
        // Removed on purpose (goOffline, eviction): stays offline until the socket reconnects.
        if (!device && state?.revoked?.includes(conn.token)) return;
        if (onlyLostUsers && device && device.conns.includes(conn.token) && !newEpoch) return;
        const old = conn.token;
        conn.token = connectionToken(this.nodeId, this.epochValue, conn.connId);
        const key = `${conn.userId}|${conn.device.id}`;
        await this.serialize(key, async () => {
          await this.store.addNodeDevice(this.nodeId, conn.userId, conn.device.id);
          await this.store.apply(conn.userId, { kind: 'connect', device: conn.device, token: conn.token, maxDevices: this.config.maxDevices });
          if (old !== conn.token) {
            await this.store.apply(conn.userId, { kind: 'disconnect', deviceId: conn.device.id, token: old, graceMs: this.config.disconnectGraceSeconds * 1000 });
          }
        });
      }),
    );
  }
}
