/** Batching a socket's writes of one tick into one. */
import type { Writable } from 'node:stream';

function uncork(stream: Writable): void {
  stream.uncork();
}

/**
 * Holds a socket's writes until the current tick is over, so what is written together leave
 * in one write (one syscall, one TCP segment) instead of one each: a graphql-ws mutation's
 * `next` and `complete`, or the Redis commands of one round trip. Order is kept. A socket
 * already held this tick stays held until the same uncork.
 */
export function corkForThisTick(stream: Writable): void {
  if (stream.writableCorked > 0) return;
  stream.cork();
  process.nextTick(uncork, stream);
}
