/**
 * Redis pub/sub for presence channels, through graphql-redis-subscriptions' RedisPubSub
 * (which ref-counts SUBSCRIBE per channel) on a dedicated ioredis subscriber connection.
 * The Lua commit script publishes; this side listens, and hands what this node committed
 * to its own listeners early (deliverEarly). `keyPrefix` does not apply to channels, so
 * channel names carry the prefix themselves.
 */
import type Redis from 'ioredis';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { PresenceMessage } from '../presence/presence.model';
import { PresenceKeys } from '../presence/store/redis';
import { LocalChannels, MessageHandler, PresencePubSub, iterate } from './pubsub';

export class RedisPresencePubSub implements PresencePubSub {
  private readonly engine: RedisPubSub;
  /** The listeners whose channel subscription is confirmed, for deliverEarly (and the channel count). */
  private readonly local = new LocalChannels();
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
    const id = await this.engine.subscribe(this.keys.channel(userId), (message: PresenceMessage) => handler(message, false));
    const removeLocal = this.local.add(userId, handler);
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      removeLocal();
      try {
        this.engine.unsubscribe(id);
      } catch {
        // Already gone with a closed connection.
      }
    };
  }

  /**
   * Hands a message this node has just committed to this node's listeners of its channel
   * now, marked early, instead of only after it has gone to Redis and back: one hop less
   * between a change and its local receivers. The copy from Redis still arrives (the one
   * other nodes get). A receiver takes the early copy only if it is the next in the user's
   * sequence, so it never overtakes another node's message still on its way, and drops the
   * later copy by its sequence number.
   */
  deliverEarly(userId: string, message: PresenceMessage): void {
    this.local.deliver(userId, message, true);
  }

  onGap(callback: () => void): void {
    this.gapCallbacks.push(callback);
  }

  channelCount(): number {
    return this.local.size;
  }

  /** Channels Redis itself reports for this node's subscriber (for leak checks). */
  async serverChannelCount(): Promise<number> {
    const reply = (await this.subscriber.call('CLIENT', 'INFO')) as string;
    const match = /sub=(\d+)/.exec(reply);
    return match ? Number(match[1]) : 0;
  }

  async close(): Promise<void> {
    this.local.clear();
  }
}
