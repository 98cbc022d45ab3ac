/** GraphQL object types and enums of the presence contract. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ActivityData, ActivityType, DeviceType, DeviceView, PresenceChangeReason, PresenceStatus, PresenceView, StatusPreference, ViewEvent } from './presence.model';

registerEnumType(PresenceStatus, {
  name: 'PresenceStatus',
  description: "What a viewer sees of a user's availability.",
  valuesConfig: { INVISIBLE: { description: 'Shown only to the user themself. Every other viewer sees OFFLINE.' } },
});
registerEnumType(StatusPreference, { name: 'StatusPreference', description: 'What a user can choose. ONLINE means: derive it from my devices.' });
registerEnumType(DeviceType, { name: 'DeviceType' });
registerEnumType(ActivityType, { name: 'ActivityType' });
registerEnumType(PresenceChangeReason, {
  name: 'PresenceChangeReason',
  description: 'Why a PresenceEvent was sent, as the receiving viewer is allowed to know it.',
  valuesConfig: {
    INITIAL: { description: 'Sent once per user at subscription start when initial: true.' },
    CONNECTED: { description: 'The user went from OFFLINE to online (first device connected).' },
    DISCONNECTED: { description: 'The user\'s last device disconnected or signed out (also: went invisible, blocked the viewer).' },
    EXPIRED: { description: "The user's last device stopped heartbeating and its TTL ran out." },
    STATUS_CHANGED: { description: 'The visible status changed between ONLINE, AWAY and BUSY.' },
    PROFILE_CHANGED: { description: 'customStatus or activity changed.' },
    DEVICES_CHANGED: { description: 'A device joined or left while the user stayed online.' },
    CONTACT_ADDED: { description: "The user became the viewer's contact: current presence follows." },
    CONTACT_REMOVED: { description: "The user is no longer the viewer's contact: presence is OFFLINE from now on." },
  },
});

const date = (ms: number): Date => new Date(ms);
const maybeDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * The object types below hold plain values and have no per-field middleware or auth, so
 * their fields keep graphql's default resolver (`simpleResolvers`): execution, compiled or
 * not, reads the property instead of calling a Type-GraphQL wrapper per field.
 */
const plain = { simpleResolvers: true } as const;

@ObjectType(plain)
export class Activity {
  @Field(() => ActivityType) type!: ActivityType;
  @Field() name!: string;
  @Field(() => String, { nullable: true }) url!: string | null;
  @Field(() => Date) startedAt!: Date;

  static from(a: ActivityData): Activity {
    return Object.assign(new Activity(), { type: a.type, name: a.name, url: a.url, startedAt: date(a.startedAt) });
  }
}

@ObjectType(plain)
export class Device {
  @Field(() => ID, { description: 'Opaque per-device id chosen by the client (for example a UUID stored on the device).' }) id!: string;
  @Field(() => DeviceType) type!: DeviceType;
  @Field(() => PresenceStatus, { description: 'ONLINE, or AWAY when the device reported itself idle.' }) status!: PresenceStatus;
  @Field(() => Date) connectedAt!: Date;
  @Field(() => Date) lastSeenAt!: Date;

  static from(d: DeviceView): Device {
    return Object.assign(new Device(), {
      id: d.id,
      type: d.type,
      status: d.status,
      connectedAt: date(d.connectedAt),
      lastSeenAt: date(d.lastSeenAt),
    });
  }
}

@ObjectType(plain)
export class Presence {
  @Field(() => ID) userId!: string;
  @Field(() => PresenceStatus) status!: PresenceStatus;
  @Field(() => String, { nullable: true }) customStatus!: string | null;
  @Field(() => Activity, { nullable: true }) activity!: Activity | null;
  @Field(() => [Device], { description: 'Live devices. Empty when the viewer sees the user as OFFLINE.' }) devices!: Device[];
  @Field(() => Date, { nullable: true, description: 'When this viewer last saw the user online; null if never.' }) lastSeenAt!: Date | null;
  @Field(() => Date, { nullable: true, description: 'When the current visible status began; null if unknown.' }) since!: Date | null;
  @Field(() => Int, { description: 'Monotonic per user and view. A client drops any event whose version is not greater than the last one it applied.' })
  version!: number;

  static from(v: PresenceView): Presence {
    return Object.assign(new Presence(), {
      userId: v.userId,
      status: v.status,
      customStatus: v.customStatus,
      activity: v.activity ? Activity.from(v.activity) : null,
      devices: v.devices.map(Device.from),
      lastSeenAt: maybeDate(v.lastSeenAt),
      since: maybeDate(v.since),
      version: v.version,
    });
  }
}

@ObjectType(plain)
export class PresenceEvent {
  @Field(() => Presence) presence!: Presence;
  @Field(() => PresenceStatus) previousStatus!: PresenceStatus;
  @Field(() => PresenceChangeReason) reason!: PresenceChangeReason;
  @Field(() => Date) at!: Date;

  static from(e: ViewEvent, at: number): PresenceEvent {
    return Object.assign(new PresenceEvent(), {
      presence: Presence.from(e.view),
      previousStatus: e.previousStatus,
      reason: e.reason,
      at: date(at),
    });
  }
}

@ObjectType(plain)
export class HeartbeatResult {
  @Field(() => Presence) presence!: Presence;
  @Field(() => Int, { description: 'Seconds until this device is considered gone if no heartbeat arrives.' }) ttlSeconds!: number;
  @Field(() => Int, { description: 'When the client should send the next heartbeat.' }) nextHeartbeatInSeconds!: number;
}

@ObjectType(plain)
export class OnlineUsersPage {
  @Field(() => [ID]) userIds!: string[];
  @Field(() => String, { nullable: true, description: 'Pass back as `after` for the next page; null when done.' }) cursor!: string | null;
}
