/**
 * `stop()` drains HTTP the way a deploy needs: a request already being received still gets
 * its answer, and an idle keep-alive connection does not hold the node up.
 */
import http from 'node:http';
import net from 'node:net';
import { token } from '../helpers/client';
import { startServer } from '../helpers/server';

/** Resolves with the raw HTTP response once the peer closes the connection. */
function readUntilClosed(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('stop() and HTTP connections', () => {
  it('answers a request that was still arriving, then closes its connection', async () => {
    const server = await startServer();
    const body = JSON.stringify({ query: 'mutation { heartbeat(device: { id: "drain-1" }) { presence { status } } }' });
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const response = readUntilClosed(socket);
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${await token('drain-user')}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    // Let the server take the headers in before it is told to stop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    let stopped = false;
    const stopping = server.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    socket.write(body.slice(10));
    const raw = await response;
    await stopping;
    expect(raw.slice(0, 300)).toMatch(/^HTTP\/1.1 200/);
    expect(raw).toContain('"status":"ONLINE"');
  });

  it('closes an idle keep-alive connection instead of waiting for it', async () => {
    const server = await startServer();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const closed = new Promise<void>((resolve) => {
        const request = http.get(`${server.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => undefined);
        });
        request.on('socket', (socket) => socket.once('close', () => resolve()));
      });
      // Wait until the response is read and the socket sits idle in the agent.
      await new Promise<void>((resolve) => agent.once('free', () => resolve()));
      await server.stop();
      await closed;
    } finally {
      agent.destroy();
    }
  });
});
