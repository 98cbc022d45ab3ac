import { useState, type FormEvent } from 'react';
import { normalizeToken } from '../session/token';

/** Asks for a token (for example from `npm run token -- alice`). */
export function LoginBox({ onToken, notice }: { onToken: (token: string) => void; notice?: string }) {
  const [value, setValue] = useState('');
  const submit = (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault();
    const token = normalizeToken(value);
    if (token !== '') onToken(token);
  };
  return (
    <form className="login" onSubmit={submit} data-testid="login">
      <h2>Sign in</h2>
      {notice !== undefined && <p className="error">{notice}</p>}
      <p className="muted">
        Paste a token from <code>npm run token -- alice</code>, or open this page with <code>?token=…</code>.
      </p>
      <textarea
        data-testid="token-input"
        rows={4}
        value={value}
        onChange={(event) => setValue(event.target.value)}
        placeholder="eyJhbGciOiJIUzI1NiJ9…"
      />
      <button type="submit">Sign in</button>
    </form>
  );
}
