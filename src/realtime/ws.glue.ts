/**
 * graphql-ws's protocol server (`makeServer`) bound to `ws` sockets. It replaces
 * graphql-ws/use/ws for two reasons measured by the benchmark: the upgrade request is not
 * kept for the socket's lifetime (we check it at upgrade time only), and an event is
 * handed to the socket without waiting for its write callback (one promise less per event
 * per subscriber). Slow consumers are cut off instead of buffering without bound.
 *
 * Per socket, in order: protocol check → `makeServer().opened` → messages → keep-alive
 * pings every `keepAliveMs` (no pong within the next interval: terminate) → close.
 */
import { CloseCode, ServerOptions, handleProtocols, makeServer } from 'graphql-ws';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';

/** What operations see as `ctx.extra`. */
export interface SocketExtra {
  socket: WebSocket;
}

/** Bytes a socket may have queued before the server gives up on it (close 1013, try again later). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export function serveGraphqlWs(
  options: ServerOptions<Record<string, unknown> | undefined, SocketExtra>,
  wss: WebSocketServer,
  logger: Logger,
  keepAliveMs: number,
): { dispose(): Promise<void> } {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  /** Close handling still running (onClose: a device's grace period is being recorded). */
  const closing = new Set<Promise<void>>();
  wss.on('connection', (socket: WebSocket) => {
    socket.once('error', (error) => {
      logger.warn({ err: error }, 'websocket error');
      socket.terminate();
    });
    let alive = true;
    socket.on('pong', () => (alive = true));
    const ping = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, keepAliveMs);
    ping.unref();
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (socket.readyState !== WebSocket.OPEN) return;
          if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
            socket.close(1013, 'Consumer too slow');
            return;
          }
          socket.send(data);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (data) => {
            cb(String(data)).catch((error: unknown) => {
              logger.error({ err: error }, 'graphql-ws message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket },
    );
    socket.once('close', (code, reason) => {
      clearInterval(ping);
      const done = closed(code, String(reason)).catch((error: unknown) => logger.error({ err: error }, 'socket close handling failed'));
      closing.add(done);
      void done.finally(() => closing.delete(done));
    });
  });
  return {
    /** Closes every socket (1001), waits for their close handling, then stops the server. */
    async dispose() {
      const sockets = [...wss.clients];
      const gone = sockets.map((client) => new Promise<void>((resolve) => (client.readyState === WebSocket.CLOSED ? resolve() : client.once('close', () => resolve()))));
      for (const client of sockets) client.close(1001, 'Going away');
      // A peer that never answers the close frame is cut off after a short wait.
      const cutoff = setTimeout(() => sockets.forEach((client) => client.terminate()), 2000);
      await Promise.all(gone);
      clearTimeout(cutoff);
      await Promise.all([...closing]);
      wss.removeAllListeners('connection');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
