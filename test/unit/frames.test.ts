import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { sendFrame, textFrame } from '../../src/realtime/ws.glue';

/** Shared frames written under ws, read back by a real ws client over a real socket. */
describe('shared text frames', () => {
  let http: Server;
  let wss: WebSocketServer;
  let client: WebSocket;
  let server: WebSocket;
  let wire: import('node:stream').Duplex;

  beforeAll(async () => {
    http = createServer();
    wss = new WebSocketServer({ server: http, perMessageDeflate: false });
    const accepted = new Promise<void>((resolve) =>
      wss.once('connection', (socket, request) => {
        server = socket;
        wire = request.socket;
        resolve();
      }),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    await Promise.all([accepted, new Promise((resolve) => client.once('open', resolve))]);
  });

  afterAll(async () => {
    client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('arrive whole and in order with ws’s own sends, at every header length', async () => {
    // 7-bit, 16-bit and 64-bit payload lengths, and a multi-byte character.
    const messages = ['{"id":"1"}', 'é'.repeat(63), 'x'.repeat(126), 'y'.repeat(65_535), 'z'.repeat(65_536), '{"type":"pong"}'];
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (data, isBinary) => {
        expect(isBinary).toBe(false);
        received.push(String(data));
        if (received.length === messages.length) resolve();
      }),
    );
    for (const [i, message] of messages.entries()) {
      if (i % 2 === 0) expect(sendFrame(server, wire, textFrame(message))).toBe(true);
      else server.send(message);
    }
    await all;
    expect(received).toEqual(messages);
  });

  it('is refused once the socket is closing', () => {
    server.close(1000, 'bye');
    expect(sendFrame(server, wire, textFrame('late'))).toBe(false);
  });
});
