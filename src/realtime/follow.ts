/** The presenceChanged subscribe function: validates, starts a Follower, adapts it to an AsyncIterable. */
import { Context, viewerOrThrow } from '../context';
import { PresenceEvent } from '../presence/presence.type';
import { ViewEvent } from '../presence/presence.model';
import { EventReceiver, Fanout, Follower } from './fanout';
import { RecentByIdentity } from './recent';
import { PUSH, PushReceiver, PushSource } from './shared-execution';

export interface FollowArgs {
  userIds?: string[] | null;
  initial: boolean;
}

/**
 * One GraphQL event object per fan-out event: receivers of the same view class share it,
 * which lets the shared executor run each operation once per event.
 */
const shared = new RecentByIdentity<ViewEvent, PresenceEvent>(8);

function toGraphQLEvent(viewEvent: ViewEvent, at: number): PresenceEvent {
  let event = shared.get(viewEvent);
  if (!event) shared.set(viewEvent, (event = PresenceEvent.from(viewEvent, at)));
  return event;
}

/**
 * The AsyncIterable that `subscribe` returns: a follower's events as GraphQL objects,
 * pulled with next() or pushed (PUSH) to the shared executor. One object per subscription.
 */
class PresenceEventStream implements AsyncIterableIterator<PresenceEvent>, PushSource, EventReceiver {
  private receiver: PushReceiver | null = null;

  constructor(private readonly follower: Follower) {}

  [PUSH](receiver: PushReceiver): void {
    this.receiver = receiver;
    this.follower.deliverTo(this);
  }

  deliver(event: ViewEvent, at: number): void {
    this.receiver?.deliver(toGraphQLEvent(event, at));
  }

  end(): void {
    this.receiver?.end();
  }

  async next(): Promise<IteratorResult<PresenceEvent>> {
    const r = await this.follower.next();
    return r.done ? { value: undefined, done: true } : { value: toGraphQLEvent(r.value.event, r.value.at), done: false };
  }

  async return(): Promise<IteratorResult<PresenceEvent>> {
    await this.follower.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<PresenceEvent> {
    return this;
  }
}

/** Starts following for the context's viewer; resolves once the snapshot is queued. */
export async function followPresence(ctx: Context & { fanout?: Fanout }, args: FollowArgs): Promise<AsyncIterable<PresenceEvent>> {
  const viewer = viewerOrThrow(ctx);
  if (!ctx.fanout) throw new Error('presenceChanged needs a fan-out in the context');
  const userIds = args.userIds ?? null;
  if (userIds !== null) ctx.service.checkUserIds(userIds);
  const follower = new Follower(ctx.fanout, { viewerId: viewer.userId, userIds, initial: args.initial });
  await follower.start();
  return new PresenceEventStream(follower);
}
