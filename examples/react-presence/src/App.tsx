import { ApolloProvider } from '@apollo/client/react';
import { useCallback, useEffect, useState } from 'react';
import { ContactList } from './components/ContactList';
import { LoginBox } from './components/LoginBox';
import { SelfCard } from './components/SelfCard';
import { useHeartbeat } from './presence/useHeartbeat';
import { perTabDeviceId } from './session/deviceId';
import { createPresenceSession, type PresenceSession } from './session/presenceSession';
import { initialToken, rememberToken } from './session/token';
import { useSocketState } from './session/useSocketState';

const SOCKET_LABELS = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  rejected: 'Token refused',
} as const;

/** Signs in with a token, then shows the signed-in user's card and their contacts. */
export function App() {
  const [token, setToken] = useState<string | null>(initialToken);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [session, setSession] = useState<PresenceSession | null>(null);

  const signOut = useCallback((reason?: string) => {
    rememberToken(null);
    // Drop ?token= too, or a reload would sign the same token straight back in.
    const url = new URL(window.location.href);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url);
    setNotice(reason);
    setToken(null);
  }, []);

  // The session (and its socket) is created in an effect, not during render, so React's
  // StrictMode double render cannot leak a second open socket.
  useEffect(() => {
    if (token === null) return undefined;
    rememberToken(token);
    const created = createPresenceSession({
      token,
      deviceId: perTabDeviceId(),
      onRejected: () => signOut('The service refused that token (expired, or signed with another secret).'),
    });
    setSession(created);
    return () => {
      created.dispose();
      setSession(null);
    };
  }, [token, signOut]);

  if (token === null) {
    return (
      <main>
        <h1>Presence</h1>
        <LoginBox
          notice={notice}
          onToken={(next) => {
            setNotice(undefined);
            setToken(next);
          }}
        />
      </main>
    );
  }
  if (session === null) return null;
  return (
    <ApolloProvider client={session.client}>
      <SignedIn session={session} onSignOut={() => signOut()} />
    </ApolloProvider>
  );
}

function SignedIn({ session, onSignOut }: { session: PresenceSession; onSignOut: () => void }) {
  useHeartbeat(session.deviceId);
  const socket = useSocketState(session);
  return (
    <main>
      <header>
        <h1>Presence</h1>
        <span className={`socket socket-${socket}`} data-testid="socket" data-state={socket}>
          {SOCKET_LABELS[socket]}
        </span>
        <button type="button" className="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <SelfCard />
      <h2>Contacts</h2>
      <ContactList />
    </main>
  );
}
