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
 * A `subscribe` for graphql-ws. Documents are interned by text first (see `internDocument`),
 * so equal operations from different sockets share one key.
 */
export function createSharedSubscribe(): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  // Sync results are cached as they are; async ones as their promise.
  const results = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();
  return async (args) => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in Object(stream))) return stream as ExecutionResult;
    const key = operationKey(args);
    return mapIterator((stream as Stream)[Symbol.asyncIterator](), (payload) => {
      if (typeof payload !== 'object' || payload === null) return execute({ ...args, rootValue: payload });
      let byOperation = results.get(payload);
      if (!byOperation) results.set(payload, (byOperation = new Map()));
      let result = byOperation.get(key);
      if (!result) {
        result = execute({ ...args, rootValue: payload });
        byOperation.set(key, result);
      }
      return result;
    });
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
