/**
 * A heartbeat through the Redis store is two round trips: the rate-limit gate and the read
 * leave in one write, the due-index entry and the compare-and-set commit in another
 * (holdWrites corks the connection's socket for the tick; the client does no auto-pipelining).
 */
import type Redis from 'ioredis';
import { PresenceCommand } from '../../src/presence/presence.transition';
import { RedisPresenceStore } from '../../src/presence/store/redis';
import { startRedis, TestRedis } from '../helpers/redis';

type Writer = { _write: (...args: unknown[]) => void; _writev: (chunks: unknown[], ...rest: unknown[]) => void };

/** Counts the socket writes (each a syscall's worth: one chunk or a corked batch) and the commands in each. */
function recordWrites(socket: Redis['stream']): { commandsPerWrite: number[]; restore(): void } {
  const writer = socket as unknown as Writer;
  const { _write: write, _writev: writev } = writer;
  const commandsPerWrite: number[] = [];
  writer._write = function (this: Writer, ...args: unknown[]) {
    commandsPerWrite.push(1);
    return write.apply(this, args);
  };
  writer._writev = function (this: Writer, chunks: unknown[], ...rest: unknown[]) {
    commandsPerWrite.push(chunks.length);
    return writev.call(this, chunks, ...rest);
  };
  return {
    commandsPerWrite,
    restore() {
      writer._write = write;
      writer._writev = writev;
    },
  };
}

describe('Redis store writes', () => {
  let redis: TestRedis;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = redis.client();
    await client.ping();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it("sends a heartbeat's four commands in two writes of two", async () => {
    const store = new RedisPresenceStore(client, `writes${Date.now()}`, { now: () => Date.now() });
    const heartbeat: PresenceCommand = { kind: 'heartbeat', device: { id: 'web', type: 'WEB', idle: false }, ttlMs: 60_000, maxDevices: 2 };
    const gate = async (): Promise<void> => {
      await client.incr('writes:gate');
    };
    // The first use of each script goes out as EVAL (and may be retried): not measured.
    await store.apply('ann', heartbeat, gate);
    const writes = recordWrites(client.stream);
    try {
      const result = await store.apply('ann', heartbeat, gate);
      expect(result.stateChanged).toBe(true);
    } finally {
      writes.restore();
    }
    expect(writes.commandsPerWrite).toEqual([2, 2]);
  });
});
