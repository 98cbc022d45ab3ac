import { useSelfPresence } from '../presence/useSelfPresence';
import { PresenceDetails } from './PresenceDetails';
import { StatusPicker } from './StatusPicker';
import { STATUS_LABELS, StatusDot } from './StatusDot';

/** The signed-in user's own presence and the status picker. */
export function SelfCard() {
  const { me, error } = useSelfPresence();
  if (error) return <p className="error">Could not load your presence: {error.message}</p>;
  if (!me) return <p className="muted">Signing in…</p>;
  return (
    <section className="self" data-testid="self" data-user-id={me.userId} data-status={me.status}>
      <div className="name">
        <StatusDot status={me.status} /> {me.userId}{' '}
        <span className="status-label">{STATUS_LABELS[me.status]}</span>
      </div>
      <PresenceDetails presence={me} />
      <StatusPicker me={me} />
    </section>
  );
}
