/** The presenceChanged subscribe function: validates, starts a Follower, adapts it to an AsyncIterable. */
import { Context, viewerOrThrow } from '../context';
import { PresenceEvent } from '../presence/presence.type';
import { DeliveredEvent, Fanout, Follower } from './fanout';

export interface FollowArgs {
  userIds?: string[] | null;
  initial: boolean;
}

/**
 * One GraphQL event object per fan-out event: receivers of the same view class share it,
 * which lets the shared executor run each operation once per event.
 */
const shared = new WeakMap<object, PresenceEvent>();

function toGraphQLEvent(delivered: DeliveredEvent): PresenceEvent {
  let event = shared.get(delivered.event);
  if (!event) shared.set(delivered.event, (event = PresenceEvent.from(delivered.event, delivered.at)));
  return event;
}

/** Starts following for the context's viewer; resolves once the snapshot is queued. */
export async function followPresence(ctx: Context & { fanout?: Fanout }, args: FollowArgs): Promise<AsyncIterable<PresenceEvent>> {
  const viewer = viewerOrThrow(ctx);
  if (!ctx.fanout) throw new Error('presenceChanged needs a fan-out in the context');
  const userIds = args.userIds ?? null;
  if (userIds !== null) ctx.service.checkUserIds(userIds);
  const follower = new Follower(ctx.fanout, { viewerId: viewer.userId, userIds, initial: args.initial });
  await follower.start();
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => follower.next().then((r): IteratorResult<PresenceEvent> => (r.done ? { value: undefined, done: true } : { value: toGraphQLEvent(r.value), done: false })),
      return: async () => {
        await follower.close();
        return { value: undefined, done: true };
      },
    }),
  };
}
