/**
 * Per-user presence channels. One interface, two adapters: in-process for the memory
 * backend, Redis pub/sub (graphql-redis-subscriptions over ioredis) for the Redis backend.
 * `subscribe` gives Type-GraphQL its AsyncIterable shape; `listen` is what the fan-out uses.
 */
import { PresenceMessage } from '../presence/presence.model';

export type MessageHandler = (message: PresenceMessage) => void;

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
      const stop = listen((m) => {
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
 * In-process channels for the single-node memory backend. The fan-out listens once per
 * followed user, so a channel nearly always has one handler: it is kept as is, and only
 * a second one makes an array.
 */
export class MemoryPubSub implements PresencePubSub {
  private readonly channels = new Map<string, MessageHandler | MessageHandler[]>();

  async publish(userId: string, message: PresenceMessage): Promise<void> {
    this.deliver(userId, message);
  }

  /** Synchronous delivery: the memory store calls it right after a commit. */
  deliver(userId: string, message: PresenceMessage): void {
    const handlers = this.channels.get(userId);
    if (typeof handlers === 'function') handlers(message);
    else if (handlers) for (const handler of [...handlers]) handler(message);
  }

  subscribe(userId: string): AsyncIterable<PresenceMessage> {
    return iterate((h) => this.listen(userId, h));
  }

  async listen(userId: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const current = this.channels.get(userId);
    if (current === undefined) this.channels.set(userId, handler);
    else if (typeof current === 'function') this.channels.set(userId, [current, handler]);
    else current.push(handler);
    let listening = true;
    return async () => {
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
