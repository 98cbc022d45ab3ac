/**
 * Executes each subscription event once per (event, operation) instead of once per
 * subscriber. A fan-out event for a view class is one shared object on this node, so
 * every subscriber of that class with the same document and variables gets the very
 * same ExecutionResult; only graphql-ws's per-socket framing remains per subscriber.
 */
import { DocumentNode, ExecutionArgs, ExecutionResult, createSourceEventStream, execute } from 'graphql';

type Stream = AsyncIterable<unknown> & AsyncIterator<unknown>;

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/**
 * Maps an async iterator, forwarding return() so unsubscribing reaches the source. `map`
 * may answer synchronously (a cached result): then an event costs one promise, not three.
 */
function mapIterator<T, U>(source: AsyncIterator<T>, map: (value: T) => U | Promise<U>): AsyncIterableIterator<U> {
  const iterator: AsyncIterableIterator<U> = {
    next() {
      return source.next().then((step): IteratorResult<U> | Promise<IteratorResult<U>> => {
        if (step.done) return DONE;
        const mapped = map(step.value);
        return mapped instanceof Promise ? mapped.then((value) => ({ value, done: false })) : { value: mapped, done: false };
      });
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 1;

function operationKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = nextDocumentId++));
  return `${id}|${args.operationName ?? ''}|${JSON.stringify(args.variableValues ?? {})}`;
}

/**
 * Where a subscription's `next` frames can be written directly, bypassing graphql-ws's
 * per-receiver JSON.stringify. The ws server puts one in each subscription's context.
 */
export interface FrameSink {
  /** The graphql-ws operation id. */
  id: string;
  /** Writes one complete `next` frame; false when the socket is gone (the pump stops). */
  write(frame: Buffer): boolean;
  /** What a result looks like on the wire (error masking), applied once per shared result. */
  format(result: ExecutionResult): ExecutionResult;
}

/**
 * One operation's result for one event. Most receivers use the same document and the same
 * operation id ("1" in most clients), so the first of each is kept in a field and only
 * the others in a Map: a fan-out event then allocates no Map at all.
 */
interface SharedEntry {
  operationKey: string;
  result: ExecutionResult | Promise<ExecutionResult>;
  /** Entries of other operations for the same event (on the first entry only). */
  others?: Map<string, SharedEntry>;
  /** Serialized payload, then whole frames by operation id. */
  payloadJson?: string;
  frameId?: string;
  frame?: Buffer;
  otherFrames?: Map<string, Buffer>;
}

/**
 * A source that can hand its values over synchronously, as they are produced, instead of
 * through `next()`. The presence follower is one: with it an event reaches the socket in
 * the same turn as the message that caused it, with no promise per receiver.
 */
export const PUSH = Symbol('presence.push');

export interface PushSource {
  /** From now on (and first for anything queued): `deliver` per value, `end` once when the source finishes. */
  [PUSH](deliver: (value: unknown) => void, end: () => void): void;
}

function isPushSource(value: unknown): value is PushSource {
  return typeof value === 'object' && value !== null && typeof (value as Partial<PushSource>)[PUSH] === 'function';
}

/** The frame of one shared result for one operation id, serialized once per result and once per id. */
function frameOf(entry: SharedEntry, result: ExecutionResult, sink: FrameSink): Buffer {
  if (entry.frameId === sink.id && entry.frame) return entry.frame;
  let frame = entry.otherFrames?.get(sink.id);
  if (frame) return frame;
  entry.payloadJson ??= JSON.stringify(sink.format(result));
  frame = Buffer.from(`{"id":${JSON.stringify(sink.id)},"type":"next","payload":${entry.payloadJson}}`);
  if (entry.frame === undefined) {
    entry.frameId = sink.id;
    entry.frame = frame;
  } else {
    (entry.otherFrames ??= new Map()).set(sink.id, frame);
  }
  return frame;
}

/**
 * The iterator graphql-ws holds while frames go straight to the sink: its one `next()`
 * settles (done) when the source ends or the socket is gone; `return()` (a client's
 * complete, a closed socket) stops the source.
 */
function sinkIterator(source: AsyncIterator<unknown>, finished: Promise<IteratorResult<ExecutionResult>>, stop: () => void): AsyncIterableIterator<ExecutionResult> {
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () => finished,
    async return() {
      stop();
      await source.return?.();
      return DONE;
    },
    async throw(error?: unknown) {
      stop();
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * Writes a push source's events to the sink as they are delivered. A result that is still
 * a promise (an async resolver) holds back later events of this subscription, so frames
 * keep the source's order. When the socket is gone the source is stopped here, since
 * graphql-ws does not call return() on an iterator that finished by itself.
 */
function pushFrames(source: AsyncIterator<unknown> & PushSource, sink: FrameSink, entryFor: (payload: unknown) => SharedEntry): AsyncIterableIterator<ExecutionResult> {
  let stopped = false;
  let settle: (done: IteratorResult<ExecutionResult>) => void = () => undefined;
  const finished = new Promise<IteratorResult<ExecutionResult>>((resolve) => (settle = resolve));
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    settle(DONE);
  };
  const write = (entry: SharedEntry, result: ExecutionResult): void => {
    if (stopped || sink.write(frameOf(entry, result, sink))) return;
    stop();
    void Promise.resolve(source.return?.()).catch(() => undefined);
  };
  /** Async results still being waited for; while there are any, later events queue behind them. */
  let waiting: Promise<void> | null = null;
  source[PUSH]((payload) => {
    if (stopped) return;
    const entry = entryFor(payload);
    const { result } = entry;
    if (waiting === null && !(result instanceof Promise)) {
      write(entry, result);
      return;
    }
    const previous = waiting ?? Promise.resolve();
    const mine: Promise<void> = previous
      .then(() => result)
      .then((settled) => write(entry, settled))
      .catch(() => stop())
      .finally(() => {
        if (waiting === mine) waiting = null;
      });
    waiting = mine;
  }, stop);
  return sinkIterator(source, finished, stop);
}

/**
 * Pulls events from a plain async iterator and writes their frames to the sink. Same
 * ending rules as pushFrames.
 */
function pumpFrames(source: AsyncIterator<unknown>, sink: FrameSink, entryFor: (payload: unknown) => SharedEntry): AsyncIterableIterator<ExecutionResult> {
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  const finished = (async (): Promise<IteratorResult<ExecutionResult>> => {
    while (!stopped) {
      const step = await source.next();
      if (step.done || stopped) break;
      const entry = entryFor(step.value);
      if (!sink.write(frameOf(entry, await entry.result, sink))) {
        stopped = true;
        await source.return?.();
        break;
      }
    }
    return DONE;
  })();
  return sinkIterator(source, finished, stop);
}

/**
 * A `subscribe` for graphql-ws. Documents are interned by text first (createDocumentCache),
 * so equal operations from different sockets share one key. With a FrameSink in the
 * context, each shared event is also serialized once per operation and id.
 */
export function createSharedSubscribe(): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  // Sync results are cached as they are; async ones as their promise.
  const shared = new WeakMap<object, SharedEntry>();
  return async (args) => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in Object(stream))) return stream as ExecutionResult;
    const key = operationKey(args);
    const run = (payload: unknown): SharedEntry => ({ operationKey: key, result: execute({ ...args, rootValue: payload }) });
    const entryFor = (payload: unknown): SharedEntry => {
      if (typeof payload !== 'object' || payload === null) return run(payload);
      const first = shared.get(payload);
      if (!first) {
        const entry = run(payload);
        shared.set(payload, entry);
        return entry;
      }
      if (first.operationKey === key) return first;
      let entry = first.others?.get(key);
      if (!entry) (first.others ??= new Map()).set(key, (entry = run(payload)));
      return entry;
    };
    const source = (stream as Stream)[Symbol.asyncIterator]();
    const sink = (args.contextValue as { frameSink?: FrameSink } | undefined)?.frameSink;
    if (sink && isPushSource(source)) return pushFrames(source, sink, entryFor);
    if (sink) return pumpFrames(source, sink, entryFor);
    return mapIterator(source, (payload) => entryFor(payload).result);
  };
}

/** Parses each distinct query text once, so identical operations share one DocumentNode. */
export function createDocumentCache(parse: (source: string) => DocumentNode, max = 500): (source: string) => DocumentNode {
  const cache = new Map<string, DocumentNode>();
  return (source) => {
    let doc = cache.get(source);
    if (!doc) {
      doc = parse(source);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(source, doc);
    }
    return doc;
  };
}
