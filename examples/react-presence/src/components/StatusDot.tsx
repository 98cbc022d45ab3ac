import type { PresenceStatus } from '../generated/graphql';

/** Dot colours, Slack-like: green online, amber away, red busy, hollow grey invisible/offline. */
const DOT_COLOURS: Record<PresenceStatus, string> = {
  ONLINE: '#2bac76',
  AWAY: '#e8a723',
  BUSY: '#e01e5a',
  INVISIBLE: '#8d8d8d',
  OFFLINE: '#8d8d8d',
};

/** Human labels for statuses. */
export const STATUS_LABELS: Record<PresenceStatus, string> = {
  ONLINE: 'Online',
  AWAY: 'Away',
  BUSY: 'Busy',
  INVISIBLE: 'Invisible',
  OFFLINE: 'Offline',
};

/** A coloured status dot; filled when the user is reachable, hollow otherwise. */
export function StatusDot({ status }: { status: PresenceStatus }) {
  const hollow = status === 'OFFLINE' || status === 'INVISIBLE';
  return (
    <span
      className="status-dot"
      data-status={status}
      role="img"
      aria-label={STATUS_LABELS[status]}
      style={{
        backgroundColor: hollow ? 'transparent' : DOT_COLOURS[status],
        borderColor: DOT_COLOURS[status],
      }}
    />
  );
}
