/**
 * A counting TCP proxy in front of the bench's Redis, used only by a short-lived probe
 * process (never by the process whose throughput is measured, so no figure pays the hop).
 *
 * It counts request flights: on each connection, client bytes that arrive while the client
 * is not already waiting for a reply start a new flight; any server bytes end the wait. For
 * one request at a time this is exactly the number of Redis round trips, however many
 * commands were pipelined into each one. Push-only connections (pub/sub) count nothing.
 * Each flight also records the names of the commands it carried (RESP arrays parsed on the
 * fly), so a report can say which round trips a request made.
 */
import net from 'node:net';

const CR = 0x0d;

/**
 * Pulls complete RESP commands out of `buffer`; returns their names (lowercased first
 * argument) and the unconsumed rest.
 */
function parseCommandNames(buffer: Buffer): { names: string[]; rest: Buffer } {
  const names: string[] = [];
  let offset = 0;
  const readLine = (from: number): { line: string; next: number } | null => {
    const end = buffer.indexOf(CR, from);
    if (end === -1 || end + 1 >= buffer.length) return null;
    return { line: buffer.toString('latin1', from, end), next: end + 2 };
  };
  while (offset < buffer.length) {
    const header = readLine(offset);
    if (header === null) break;
    if (!header.line.startsWith('*')) {
      // Inline command (not what ioredis sends): the first word is the name.
      names.push((header.line.split(' ')[0] ?? '?').toLowerCase());
      offset = header.next;
      continue;
    }
    const count = Number(header.line.slice(1));
    let cursor = header.next;
    let name: string | null = null;
    let complete = true;
    for (let i = 0; i < count; i += 1) {
      const lengthLine = readLine(cursor);
      if (lengthLine === null) {
        complete = false;
        break;
      }
      const length = Number(lengthLine.line.slice(1));
      if (lengthLine.next + length + 2 > buffer.length) {
        complete = false;
        break;
      }
      if (i === 0) name = buffer.toString('latin1', lengthLine.next, lengthLine.next + length).toLowerCase();
      cursor = lengthLine.next + length + 2;
    }
    if (!complete) break;
    names.push(name ?? '?');
    offset = cursor;
  }
  return { names, rest: buffer.subarray(offset) };
}

/** The proxy, its flight counter and the command names of each flight. */
export class RoundTripProxy {
  private flightLog: string[][] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on a kernel-chosen 127.0.0.1 port and forwards to 127.0.0.1:`redisPort`. */
  static start(redisPort: number): Promise<RoundTripProxy> {
    return new Promise((resolve, reject) => {
      let proxy: RoundTripProxy | undefined;
      const server = net.createServer((client) => {
        const upstream = net.connect(redisPort, '127.0.0.1');
        let awaitingReply = false;
        let flight: string[] = [];
        let pending: Buffer = Buffer.alloc(0);
        proxy?.sockets.add(client).add(upstream);
        client.setNoDelay(true);
        upstream.setNoDelay(true);
        client.on('data', (chunk: Buffer) => {
          if (!awaitingReply) {
            flight = [];
            proxy?.flightLog.push(flight);
          }
          awaitingReply = true;
          const parsed = parseCommandNames(pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk);
          flight.push(...parsed.names);
          pending = Buffer.from(parsed.rest);
          upstream.write(chunk);
        });
        upstream.on('data', (chunk: Buffer) => {
          awaitingReply = false;
          client.write(chunk);
        });
        const closeBoth = (): void => {
          client.destroy();
          upstream.destroy();
          proxy?.sockets.delete(client);
          proxy?.sockets.delete(upstream);
        };
        client.on('close', closeBoth);
        upstream.on('close', closeBoth);
        client.on('error', closeBoth);
        upstream.on('error', closeBoth);
      });
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        proxy = new RoundTripProxy(server, port);
        resolve(proxy);
      });
    });
  }

  /** `redis://` URL of the proxy. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Flights since the last {@link reset}. */
  get flights(): number {
    return this.flightLog.length;
  }

  /** Flights since the last reset, counted by shape: the command names joined with `+`. */
  flightShapes(): Map<string, number> {
    const shapes = new Map<string, number>();
    for (const flight of this.flightLog) {
      const shape = flight.length === 0 ? '?' : flight.join('+');
      shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
    }
    return shapes;
  }

  /** Starts counting from zero. */
  reset(): void {
    this.flightLog = [];
  }

  /** Closes the listener and every proxied connection. */
  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
