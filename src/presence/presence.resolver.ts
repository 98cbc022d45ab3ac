/** Thin resolvers: authenticate, hand over to PresenceService, map to GraphQL types. */
import { Arg, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { Context, viewerOrThrow } from '../context';
import { DeviceInput, SetStatusInput } from './presence.inputs';
import { HeartbeatResult, OnlineUsersPage, Presence, PresenceEvent } from './presence.type';
import { followPresence } from '../realtime/follow';

@Resolver()
export class PresenceResolver {
  @Query(() => Presence, { description: "The signed-in user's own presence (INVISIBLE shows as INVISIBLE here)." })
  async me(@Ctx() ctx: Context): Promise<Presence> {
    const viewer = viewerOrThrow(ctx);
    return Presence.from(await ctx.presenceLoader!.load(viewer.userId));
  }

  @Query(() => Presence, { description: 'A user\'s presence as the viewer may see it (views: self, contact, frozen offline, stranger; see PRESENCE.md).' })
  async presence(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<Presence> {
    viewerOrThrow(ctx);
    ctx.service.checkUserIds([userId], 'userId');
    return Presence.from(await ctx.presenceLoader!.load(userId));
  }

  @Query(() => [Presence], { description: 'Same as presence for many users, in the order given (duplicates allowed). At most 500 ids.' })
  async presences(@Arg('userIds', () => [ID]) userIds: string[], @Ctx() ctx: Context): Promise<Presence[]> {
    viewerOrThrow(ctx);
    ctx.service.checkUserIds(userIds);
    return (await ctx.presenceLoader!.loadMany(userIds)).map((v) => {
      if (v instanceof Error) throw v;
      return Presence.from(v);
    });
  }

  @Query(() => [Presence], { description: "The viewer's contacts with their presence; onlineOnly drops those the viewer sees as OFFLINE." })
  async contacts(@Arg('onlineOnly', () => Boolean, { defaultValue: false }) onlineOnly: boolean, @Ctx() ctx: Context): Promise<Presence[]> {
    return (await ctx.service.contacts(viewerOrThrow(ctx), onlineOnly)).map(Presence.from);
  }

  @Query(() => [ID], { description: 'Users the viewer has blocked.' })
  async blockedUsers(@Ctx() ctx: Context): Promise<string[]> {
    return ctx.service.blockedUsers(viewerOrThrow(ctx));
  }

  @Query(() => OnlineUsersPage, {
    description:
      'Admin (scope presence:admin): every online user, paged. Invisible users are included.\nA user online for the whole walk appears at least once; a user may repeat across pages,\na page may hold fewer than `first` ids, and users who come online during the walk may be missed.',
  })
  async onlineUsers(
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ): Promise<OnlineUsersPage> {
    return Object.assign(new OnlineUsersPage(), await ctx.service.onlineUsers(viewerOrThrow(ctx), first, after));
  }

  @Mutation(() => HeartbeatResult, { description: 'Marks the device online (creating it if new) and extends its TTL. Device defaults to { id: "default", type: WEB }.' })
  async heartbeat(@Arg('device', () => DeviceInput, { nullable: true }) device: DeviceInput | null, @Ctx() ctx: Context): Promise<HeartbeatResult> {
    const outcome = await ctx.service.heartbeat(viewerOrThrow(ctx), device);
    return Object.assign(new HeartbeatResult(), { ...outcome, presence: Presence.from(outcome.presence) });
  }

  @Mutation(() => Presence, { description: "Changes the user's chosen status, custom status text and/or activity." })
  async setStatus(@Arg('input', () => SetStatusInput) input: SetStatusInput, @Ctx() ctx: Context): Promise<Presence> {
    const viewer = viewerOrThrow(ctx);
    const view = await ctx.service.setStatus(viewer, {
      status: input.status ?? undefined,
      customStatus: input.customStatus,
      activity: input.activity === undefined ? undefined : input.activity === null ? null : { type: input.activity.type, name: input.activity.name, url: input.activity.url ?? null },
    });
    return Presence.from(view);
  }

  @Mutation(() => Presence, { description: 'Signs one device out, or every device when deviceId is omitted.' })
  async goOffline(@Arg('deviceId', () => ID, { nullable: true }) deviceId: string | null, @Ctx() ctx: Context): Promise<Presence> {
    return Presence.from(await ctx.service.goOffline(viewerOrThrow(ctx), deviceId));
  }

  @Mutation(() => Boolean, { description: 'The viewer stops sharing presence with userId (they see OFFLINE) and stops receiving theirs.' })
  async blockUser(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.service.setBlocked(viewerOrThrow(ctx), userId, true);
  }

  @Mutation(() => Boolean)
  async unblockUser(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.service.setBlocked(viewerOrThrow(ctx), userId, false);
  }

  @Mutation(() => [ID], { description: "Admin (scope presence:admin): replaces userId's contact list. Contacts are mutual." })
  async setContacts(@Arg('userId', () => ID) userId: string, @Arg('contactIds', () => [ID]) contactIds: string[], @Ctx() ctx: Context): Promise<string[]> {
    return ctx.service.changeContacts(viewerOrThrow(ctx), 'set', userId, contactIds);
  }

  @Mutation(() => [ID], { description: 'Admin: adds mutual contacts.' })
  async addContacts(@Arg('userId', () => ID) userId: string, @Arg('contactIds', () => [ID]) contactIds: string[], @Ctx() ctx: Context): Promise<string[]> {
    return ctx.service.changeContacts(viewerOrThrow(ctx), 'add', userId, contactIds);
  }

  @Mutation(() => [ID], { description: 'Admin: removes mutual contacts.' })
  async removeContacts(@Arg('userId', () => ID) userId: string, @Arg('contactIds', () => [ID]) contactIds: string[], @Ctx() ctx: Context): Promise<string[]> {
    return ctx.service.changeContacts(viewerOrThrow(ctx), 'remove', userId, contactIds);
  }

  @Subscription(() => PresenceEvent, {
    description:
      "Presence changes of the given users, or of all the viewer's contacts (live, including\ncontacts added later) when userIds is omitted. Ids that are neither contacts nor the\nviewer are ignored silently. With initial: true, one INITIAL event per visible user comes first.",
    subscribe: ({ args, context }) => followPresence(context as Context, args as { userIds?: string[] | null; initial: boolean }),
  })
  presenceChanged(
    @Root() event: PresenceEvent,
    @Arg('userIds', () => [ID], { nullable: true }) _userIds: string[] | null,
    @Arg('initial', () => Boolean, { defaultValue: false }) _initial: boolean,
  ): PresenceEvent {
    // followPresence already shaped the event for this viewer.
    return event;
  }
}
