/**
 * The graphql-ws glue (src/realtime/ws.glue.ts) on its own HTTP server, on a free port, for
 * tests of the protocol handling without the presence service around it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { SocketEvents, serveGraphqlWs } from '../../src/realtime/ws.glue';

export interface GlueServer {
  /** ws:// address of the server. */
  url: string;
  /** Closes every socket, the glue and the HTTP server. */
  stop(): Promise<void>;
}

export async function startGlue(options: Parameters<typeof serveGraphqlWs>[0], events: SocketEvents = {}): Promise<GlueServer> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
  const { dispose } = serveGraphqlWs(options, wss, pino({ level: 'silent' }), 60_000, events);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async stop() {
      await dispose();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
