/** Picks free TCP ports on 127.0.0.1. */
import net from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1 and releases it, so a child process can be
 * told the number up front (redis-server and the service need a concrete port).
 */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read a free port'))));
    });
  });
}
