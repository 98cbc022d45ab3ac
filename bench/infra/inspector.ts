/**
 * A full garbage collection in another Node process, through its inspector (the target is
 * started with `--inspect=127.0.0.1:<port>`). Taking RSS after a full GC on both sides turns
 * the idle-memory figure from "whatever the heap happened to hold" into retained memory.
 */
import http from 'node:http';
import WebSocket from 'ws';

function inspectorSocketUrl(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/json/list', timeout: 3_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          const targets = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ webSocketDebuggerUrl?: unknown }>;
          const url = targets[0]?.webSocketDebuggerUrl;
          if (typeof url === 'string') resolve(url);
          else reject(new Error(`no inspector target on port ${port}`));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`inspector on port ${port} did not answer`)));
    request.on('error', reject);
  });
}

/**
 * Runs `HeapProfiler.collectGarbage` `times` times in the process whose inspector listens on
 * `port`, then detaches. Resolves false (and the caller measures without it) on any failure.
 */
export async function collectGarbage(port: number, times = 2): Promise<boolean> {
  let socket: WebSocket | undefined;
  try {
    const url = await inspectorSocketUrl(port);
    const opened = new WebSocket(url, { perMessageDeflate: false });
    socket = opened;
    await new Promise<void>((resolve, reject) => {
      opened.once('open', () => resolve());
      opened.once('error', reject);
    });
    for (let id = 1; id <= times; id += 1) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('collectGarbage timed out')), 30_000);
        const onMessage = (data: WebSocket.RawData): void => {
          const reply = JSON.parse(data.toString()) as { id?: unknown };
          if (reply.id !== id) return;
          clearTimeout(timer);
          opened.off('message', onMessage);
          resolve();
        };
        opened.on('message', onMessage);
        opened.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      });
    }
    return true;
  } catch {
    return false;
  } finally {
    socket?.close();
  }
}
