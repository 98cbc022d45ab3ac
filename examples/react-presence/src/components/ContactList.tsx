import { usePresence } from '../presence/usePresence';
import { PresenceDetails } from './PresenceDetails';
import { STATUS_LABELS, StatusDot } from './StatusDot';

/** Every contact with a live status dot, custom status and activity. */
export function ContactList() {
  const { presences, loading, error } = usePresence();
  if (error) return <p className="error">Live presence stopped: {error.message}</p>;
  if (loading) return <p className="muted">Waiting for contacts…</p>;
  if (presences.length === 0) return <p className="muted">No contacts yet.</p>;

  // Sorted by id so rows do not jump around as statuses change.
  const sorted = [...presences].sort((a, b) => a.userId.localeCompare(b.userId));
  return (
    <ul className="contacts" data-testid="contacts">
      {sorted.map((presence) => (
        <li
          key={presence.userId}
          className="contact"
          data-testid="contact"
          data-user-id={presence.userId}
          data-status={presence.status}
          data-version={presence.version}
        >
          <StatusDot status={presence.status} />
          <div>
            <div className="name">
              {presence.userId} <span className="status-label">{STATUS_LABELS[presence.status]}</span>
            </div>
            <PresenceDetails presence={presence} />
          </div>
        </li>
      ))}
    </ul>
  );
}
