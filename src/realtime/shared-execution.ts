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

interface SharedEntry {
  result: ExecutionResult | Promise<ExecutionResult>;
  /** Serialized payload, then whole frames by operation id (clients often all use "1"). */
  payloadJson?: string;
  frames?: Map<string, Buffer>;
}

/**
 * Pulls events and writes their frames to the sink; the iterator graphql-ws holds only
 * finishes (done) when the source ends or graphql-ws calls return() on a client's complete.
 */
function pumpFrames(source: AsyncIterator<unknown>, sink: FrameSink, entryFor: (payload: unknown) => SharedEntry): AsyncIterableIterator<ExecutionResult> {
  let stopped = false;
  const finished = (async (): Promise<IteratorResult<ExecutionResult>> => {
    while (!stopped) {
      const step = await source.next();
      if (step.done || stopped) break;
      const entry = entryFor(step.value);
      const result = await entry.result;
      entry.payloadJson ??= JSON.stringify(sink.format(result));
      entry.frames ??= new Map();
      let frame = entry.frames.get(sink.id);
      if (!frame) entry.frames.set(sink.id, (frame = Buffer.from(`{"id":${JSON.stringify(sink.id)},"type":"next","payload":${entry.payloadJson}}`)));
      if (!sink.write(frame)) break;
    }
    return DONE;
  })();
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () => finished,
    async return() {
      stopped = true;
      await source.return?.();
      return DONE;
    },
    async throw(error?: unknown) {
      stopped = true;
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
 * A `subscribe` for graphql-ws. Documents are interned by text first (createDocumentCache),
 * so equal operations from different sockets share one key. With a FrameSink in the
 * context, each shared event is also serialized once per operation and id.
 */
export function createSharedSubscribe(): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  // Sync results are cached as they are; async ones as their promise.
  const shared = new WeakMap<object, Map<string, SharedEntry>>();
  return async (args) => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in Object(stream))) return stream as ExecutionResult;
    const key = operationKey(args);
    const entryFor = (payload: unknown): SharedEntry => {
      if (typeof payload !== 'object' || payload === null) return { result: execute({ ...args, rootValue: payload }) };
      let byOperation = shared.get(payload);
      if (!byOperation) shared.set(payload, (byOperation = new Map()));
      let entry = byOperation.get(key);
      if (!entry) byOperation.set(key, (entry = { result: execute({ ...args, rootValue: payload }) }));
      return entry;
    };
    const source = (stream as Stream)[Symbol.asyncIterator]();
    const sink = (args.contextValue as { frameSink?: FrameSink } | undefined)?.frameSink;
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
