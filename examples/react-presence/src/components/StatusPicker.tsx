import { useApolloClient, useMutation } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { SetStatusDocument, type PresenceFieldsFragment, type StatusPreference } from '../generated/graphql';
import { mergePresence } from '../presence/presenceCache';

const CHOICES: ReadonlyArray<{ value: StatusPreference; label: string }> = [
  { value: 'ONLINE', label: 'Online (automatic)' },
  { value: 'AWAY', label: 'Away' },
  { value: 'BUSY', label: 'Busy' },
  { value: 'INVISIBLE', label: 'Invisible' },
];

/** Maps what the user currently shows to the picker's starting choice. */
function preferenceShown(me: PresenceFieldsFragment): StatusPreference {
  return me.status === 'AWAY' || me.status === 'BUSY' || me.status === 'INVISIBLE' ? me.status : 'ONLINE';
}

/** Picks a status preference and custom status text, sent with `setStatus`. */
export function StatusPicker({ me }: { me: PresenceFieldsFragment }) {
  const client = useApolloClient();
  const [status, setStatusChoice] = useState<StatusPreference>(() => preferenceShown(me));
  const [customStatus, setCustomStatus] = useState(me.customStatus ?? '');
  // no-cache: the result goes through the same version check as subscription events.
  const [setStatus, { loading, error }] = useMutation(SetStatusDocument, { fetchPolicy: 'no-cache' });

  const submit = async (event: FormEvent<HTMLFormElement>): Promise<void> => {
    event.preventDefault();
    const text = customStatus.trim();
    // An explicit null clears the custom status; the service keeps absent fields as they are.
    const { data } = await setStatus({ variables: { input: { status, customStatus: text === '' ? null : text } } });
    if (data) mergePresence(client.cache, data.setStatus);
  };

  return (
    <form className="status-picker" onSubmit={(event) => void submit(event).catch(() => undefined)}>
      <label>
        Status{' '}
        <select
          data-testid="status-select"
          value={status}
          onChange={(event) => setStatusChoice(event.target.value as StatusPreference)}
        >
          {CHOICES.map((choice) => (
            <option key={choice.value} value={choice.value}>
              {choice.label}
            </option>
          ))}
        </select>
      </label>
      <input
        data-testid="custom-status-input"
        placeholder="What's happening? (optional)"
        maxLength={128}
        value={customStatus}
        onChange={(event) => setCustomStatus(event.target.value)}
      />
      <button type="submit" data-testid="status-submit" disabled={loading}>
        {loading ? 'Saving…' : 'Set status'}
      </button>
      {error && <span className="error">{error.message}</span>}
    </form>
  );
}
