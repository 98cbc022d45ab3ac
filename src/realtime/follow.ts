/** The presenceChanged subscribe function: validates, starts a Follower, adapts it to an AsyncIterable. */
import { Context, viewerOrThrow } from '../context';
import { PresenceEvent } from '../presence/presence.type';
import { ViewEvent } from '../presence/presence.model';
import { Fanout, Follower } from './fanout';
import { PUSH, PushSource } from './shared-execution';

export interface FollowArgs {
  userIds?: string[] | null;
  initial: boolean;
}

/**
 * One GraphQL event object per fan-out event: receivers of the same view class share it,
 * which lets the shared executor run each operation once per event.
 */
const shared = new WeakMap<ViewEvent, PresenceEvent>();

function toGraphQLEvent(viewEvent: ViewEvent, at: number): PresenceEvent {
  let event = shared.get(viewEvent);
  if (!event) shared.set(viewEvent, (event = PresenceEvent.from(viewEvent, at)));
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
    [Symbol.asyncIterator]: (): AsyncIterator<PresenceEvent> & PushSource => ({
      [PUSH]: (deliver, end) => follower.deliverTo((event, at) => deliver(toGraphQLEvent(event, at)), end),
      next: () => follower.next().then((r): IteratorResult<PresenceEvent> => (r.done ? { value: undefined, done: true } : { value: toGraphQLEvent(r.value.event, r.value.at), done: false })),
      return: async () => {
        await follower.close();
        return { value: undefined, done: true };
      },
    }),
  };
}
