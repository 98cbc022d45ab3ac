/**
 * Per-user presence channels. One interface, two adapters: in-process for the memory
 * backend, Redis pub/sub (graphql-redis-subscriptions over ioredis) for the Redis backend.
 * `subscribe` gives Type-GraphQL its AsyncIterable shape; `listen` is what the fan-out uses.
 */
import { PresenceMessage } from '../presence/presence.model';

/**
 * Gets each message of a channel. `early` marks a node-local copy handed over as the commit
 * returns, before the same message comes back through Redis (RedisPresencePubSub.deliverEarly):
 * a receiver may use it only where it is the next message it expects, and then ignores the
 * later copy by its sequence number.
 */
export type MessageHandler = (message: PresenceMessage, early: boolean) => void;

export interface PresencePubSub {
  /** Publishes on the user's channel (the Redis store publishes from Lua instead). */
  publish(userId: string, message: PresenceMessage): Promise<void>;
  /** An AsyncIterable of the user's messages (Type-GraphQL's PubSub shape). */
  subscribe(userId: string): AsyncIterable<PresenceMessage>;
  /**
   * Calls `handler` for every message on the user's channel. Resolves once the channel
   * subscription is confirmed, so a read made afterwards cannot miss a later message.
   * The returned function stops it.
   */
  listen(userId: string, handler: MessageHandler): Promise<() => Promise<void>>;
  /** Registers a callback for "messages may have been lost" (a subscriber reconnect). */
  onGap(callback: () => void): void;
  /** Channels this node is subscribed to right now. */
  channelCount(): number;
  close(): Promise<void>;
}

/** Turns a listen-style source into an AsyncIterable that unsubscribes when the consumer stops. */
export function iterate(listen: (handler: MessageHandler) => Promise<() => Promise<void>>): AsyncIterable<PresenceMessage> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<PresenceMessage> {
      const queue: PresenceMessage[] = [];
      const waiting: Array<(r: IteratorResult<PresenceMessage>) => void> = [];
      let done = false;
      const stop = listen((m, early) => {
        if (early) return; // the copy from the channel follows
        const next = waiting.shift();
        if (next) next({ value: m, done: false });
        else queue.push(m);
      });
      const finish = async (): Promise<IteratorResult<PresenceMessage>> => {
        done = true;
        await (await stop)();
        for (const w of waiting.splice(0)) w({ value: undefined, done: true });
        return { value: undefined, done: true };
      };
      return {
        next: () => {
          const queued = queue.shift();
          if (queued) return Promise.resolve({ value: queued, done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => waiting.push(resolve));
        },
        return: finish,
        throw: finish,
      };
    },
  };
}

/**
 * The handlers of this node's channels, by user. The fan-out listens once per followed
 * user, so a channel nearly always has one handler: it is kept as is, and only a second
 * one makes an array.
 */
export class LocalChannels {
  private readonly channels = new Map<string, MessageHandler | MessageHandler[]>();

  /** Adds a handler to the user's channel; the returned function removes it (once). */
  add(userId: string, handler: MessageHandler): () => void {
    const current = this.channels.get(userId);
    if (current === undefined) this.channels.set(userId, handler);
    else if (typeof current === 'function') this.channels.set(userId, [current, handler]);
    else current.push(handler);
    let listening = true;
    return () => {
      if (!listening) return;
      listening = false;
      const now = this.channels.get(userId);
      if (now === handler) this.channels.delete(userId);
      else if (Array.isArray(now)) {
        // The same handler may listen twice: remove one registration.
        const at = now.indexOf(handler);
        if (at >= 0) now.splice(at, 1);
        if (now.length === 1) this.channels.set(userId, now[0] as MessageHandler);
      }
    };
  }

  /** Calls the handlers of the user's channel, synchronously. */
  deliver(userId: string, message: PresenceMessage, early: boolean): void {
    const handlers = this.channels.get(userId);
    if (typeof handlers === 'function') handlers(message, early);
    else if (handlers) for (const handler of [...handlers]) handler(message, early);
  }

  /** Users whose channel has a handler. */
  get size(): number {
    return this.channels.size;
  }

  clear(): void {
    this.channels.clear();
  }
}

/** In-process channels for the single-node memory backend. */
export class MemoryPubSub implements PresencePubSub {
  private readonly channels = new LocalChannels();

  async publish(userId: string, message: PresenceMessage): Promise<void> {
    this.deliver(userId, message);
  }

  /** Synchronous delivery: the memory store calls it right after a commit. */
  deliver(userId: string, message: PresenceMessage): void {
    this.channels.deliver(userId, message, false);
  }

  subscribe(userId: string): AsyncIterable<PresenceMessage> {
    return iterate((h) => this.listen(userId, h));
  }

  async listen(userId: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const remove = this.channels.add(userId, handler);
    return async () => remove();
  }

  onGap(): void {
    // Nothing is ever lost in process.
  }

  channelCount(): number {
    return this.channels.size;
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
