/** Batching a socket's writes of one tick, or of one turn of the event loop, into one. */
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

/** Sockets held by holdForThisTurn, released together once the loop's I/O callbacks of this turn are done. */
let heldThisTurn: Writable[] = [];

function releaseHeld(): void {
  const held = heldThisTurn;
  heldThisTurn = [];
  for (let i = 0; i < held.length; i++) held[i].uncork();
}

/**
 * Holds a socket's writes until the event loop's current turn has handled the I/O it read
 * (setImmediate), so the frames one socket gets from several messages handled in one turn
 * leave in one writev. A socket already held stays held until the same release.
 */
export function holdForThisTurn(stream: Writable): void {
  if (stream.writableCorked > 0) return;
  stream.cork();
  if (heldThisTurn.push(stream) === 1) setImmediate(releaseHeld);
}
