/**
 * Redis pub/sub for presence channels, through graphql-redis-subscriptions' RedisPubSub
 * (which ref-counts SUBSCRIBE per channel) on a dedicated ioredis subscriber connection.
 * The Lua commit script publishes; this side only listens. `keyPrefix` does not apply
 * to channels, so channel names carry the prefix themselves.
 */
import type Redis from 'ioredis';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { PresenceMessage } from '../presence/presence.model';
import { PresenceKeys } from '../presence/store/redis';
import { MessageHandler, PresencePubSub, iterate } from './pubsub';

export class RedisPresencePubSub implements PresencePubSub {
  private readonly engine: RedisPubSub;
  private readonly refs = new Map<string, number>();
  private readonly gapCallbacks: Array<() => void> = [];
  private everReady = false;

  constructor(
    publisher: Redis,
    private readonly subscriber: Redis,
    private readonly keys: PresenceKeys,
  ) {
    this.engine = new RedisPubSub({ publisher, subscriber });
    // ioredis re-subscribes after a reconnect, but what was published meanwhile is gone.
    subscriber.on('ready', () => {
      if (this.everReady) for (const cb of this.gapCallbacks) cb();
      this.everReady = true;
    });
    if (subscriber.status === 'ready') this.everReady = true;
  }

  async publish(userId: string, message: PresenceMessage): Promise<void> {
    await this.engine.publish(this.keys.channel(userId), message);
  }

  subscribe(userId: string): AsyncIterable<PresenceMessage> {
    return iterate((h) => this.listen(userId, h));
  }

  async listen(userId: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const channel = this.keys.channel(userId);
    const id = await this.engine.subscribe(channel, (message: PresenceMessage) => handler(message));
    this.refs.set(channel, (this.refs.get(channel) ?? 0) + 1);
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      const left = (this.refs.get(channel) ?? 1) - 1;
      if (left <= 0) this.refs.delete(channel);
      else this.refs.set(channel, left);
      try {
        this.engine.unsubscribe(id);
      } catch {
        // Already gone with a closed connection.
      }
    };
  }

  onGap(callback: () => void): void {
    this.gapCallbacks.push(callback);
  }

  channelCount(): number {
    return this.refs.size;
  }

  /** Channels Redis itself reports for this node's subscriber (for leak checks). */
  async serverChannelCount(): Promise<number> {
    const reply = (await this.subscriber.call('CLIENT', 'INFO')) as string;
    const match = /sub=(\d+)/.exec(reply);
    return match ? Number(match[1]) : 0;
  }

  async close(): Promise<void> {
    this.refs.clear();
  }
}
