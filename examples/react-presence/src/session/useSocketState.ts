import { useSyncExternalStore } from 'react';
import type { PresenceSession, SocketState } from './presenceSession';

/** The session's graphql-ws state, re-rendering on each change. */
export function useSocketState(session: PresenceSession): SocketState {
  return useSyncExternalStore(session.subscribeSocketState, session.socketState);
}
