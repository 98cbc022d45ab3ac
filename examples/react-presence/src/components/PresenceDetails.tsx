import type { ActivityType, PresenceFieldsFragment } from '../generated/graphql';

const ACTIVITY_VERBS: Record<ActivityType, string> = {
  PLAYING: 'Playing',
  STREAMING: 'Streaming',
  LISTENING: 'Listening to',
  WATCHING: 'Watching',
  CUSTOM: '',
};

/** Custom status, activity and a device / last-seen line for one presence. */
export function PresenceDetails({ presence }: { presence: PresenceFieldsFragment }) {
  const { customStatus, activity, devices, lastSeenAt, status } = presence;
  const online = status !== 'OFFLINE';
  return (
    <div className="presence-details">
      {customStatus !== null && customStatus !== '' && (
        <div className="custom-status" data-testid="custom-status">
          “{customStatus}”
        </div>
      )}
      {activity !== null && (
        <div className="activity" data-testid="activity">
          {`${ACTIVITY_VERBS[activity.type]} `.trimStart()}
          {activity.url !== null ? (
            <a href={activity.url} target="_blank" rel="noreferrer">
              {activity.name}
            </a>
          ) : (
            activity.name
          )}
        </div>
      )}
      <div className="meta">
        {online
          ? `${devices.length} device${devices.length === 1 ? '' : 's'}: ${devices
              .map((d) => d.type.toLowerCase() + (d.status === 'AWAY' ? ' (idle)' : ''))
              .join(', ')}`
          : lastSeenAt !== null
            ? `Last seen ${new Date(lastSeenAt).toLocaleString()}`
            : 'Not seen yet'}
      </div>
    </div>
  );
}
