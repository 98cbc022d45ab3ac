/**
 * Executes each subscription event once per (event, operation) instead of once per
 * subscriber. A fan-out event for a view class is one shared object on this node, so
 * every subscriber of that class with the same document and variables gets the very
 * same ExecutionResult; only graphql-ws's per-socket framing remains per subscriber.
 */
import { DocumentNode, ExecutionArgs, ExecutionResult, createSourceEventStream, execute } from 'graphql';
import type { Executor } from '../graphql/compiled';
import { RecentByIdentity } from './recent';

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
/** Keys by their text: the many subscriptions of one operation keep one string, not one each. */
const knownKeys = new Map<string, string>();
const MAX_KNOWN_KEYS = 1_000;

function operationKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = nextDocumentId++));
  const key = `${id}|${args.operationName ?? ''}|${JSON.stringify(args.variableValues ?? {})}`;
  const known = knownKeys.get(key);
  if (known !== undefined) return known;
  if (knownKeys.size >= MAX_KNOWN_KEYS) knownKeys.clear();
  knownKeys.set(key, key);
  return key;
}

/**
 * Where a subscription's `next` frames can be written directly, bypassing graphql-ws's
 * per-receiver JSON.stringify. The ws server puts one in each subscription's context.
 */
export interface FrameSink {
  /** The graphql-ws operation id. */
  id: string;
  /**
   * One graphql-ws message as this transport puts it on the wire. Frames are made once per
   * shared result and operation id and handed to every sink with that id.
   */
  frame(message: string): Buffer;
  /** Writes one frame made by `frame`; false when the socket is gone (the pump stops). */
  write(frame: Buffer): boolean;
  /** What a result looks like on the wire (error masking), applied once per shared result. */
  format(result: ExecutionResult): ExecutionResult;
}

/**
 * Where a pushed value goes. Objects rather than callbacks: a node holds one per
 * subscription, and methods on a class cost no closure each.
 */
export interface PushReceiver {
  /** One value, in the turn it was produced. */
  deliver(value: unknown): void;
  /** The source finished (it was closed); called once. */
  end(): void;
}

/**
 * A source that can hand its values over synchronously, as they are produced, instead of
 * through `next()`. The presence follower is one: with it an event reaches the socket in
 * the same turn as the message that caused it, with no promise per receiver.
 */
export const PUSH = Symbol('presence.push');

export interface PushSource {
  /** From now on (and first for anything queued) every value goes to `receiver`. */
  [PUSH](receiver: PushReceiver): void;
}

/** Whether `value` is an object with a method under `key` (how the PUSH and WATCH_STOP protocols are recognised). */
function hasMethod(value: unknown, key: symbol): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<symbol, unknown>)[key] === 'function';
}

function isPushSource(value: unknown): value is PushSource {
  return hasMethod(value, PUSH);
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

/** The frame of one shared result for one operation id, serialized once per result and once per id. */
function frameOf(entry: SharedEntry, result: ExecutionResult, sink: FrameSink): Buffer {
  if (entry.frameId === sink.id && entry.frame) return entry.frame;
  let frame = entry.otherFrames?.get(sink.id);
  if (frame) return frame;
  entry.payloadJson ??= JSON.stringify(sink.format(result));
  frame = sink.frame(`{"id":${JSON.stringify(sink.id)},"type":"next","payload":${entry.payloadJson}}`);
  if (entry.frame === undefined) {
    entry.frameId = sink.id;
    entry.frame = frame;
  } else {
    (entry.otherFrames ??= new Map()).set(sink.id, frame);
  }
  return frame;
}

/**
 * `args` with `rootValue` set, as an object literal of one fixed shape. Not
 * `{ ...args, rootValue }`: in V8 (Node 20) the map a spread copy gets has no transition
 * for the added property, so every such object got a map of its own. Each event then left
 * a map, its descriptor array and one IC load handler per read of the args in the old
 * generation (~1,000 dead maps a second at 30k events/s, `--log-maps`), and every one of
 * those reads missed its inline cache.
 */
export function withRoot(args: ExecutionArgs, rootValue: unknown): ExecutionArgs {
  return {
    schema: args.schema,
    document: args.document,
    rootValue,
    contextValue: args.contextValue,
    variableValues: args.variableValues,
    operationName: args.operationName,
    fieldResolver: args.fieldResolver,
    typeResolver: args.typeResolver,
    subscribeFieldResolver: args.subscribeFieldResolver,
    hideSuggestions: args.hideSuggestions,
    options: args.options,
  };
}

/** One subscription's way to the shared results: the node-wide cache plus this operation's key. */
class SharedResults {
  private readonly key: string;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly shared: RecentByIdentity<object, SharedEntry>,
    private readonly executor: Executor,
  ) {
    this.key = operationKey(args);
  }

  private run(payload: unknown): SharedEntry {
    return { operationKey: this.key, result: this.executor(withRoot(this.args, payload)) };
  }

  /** The entry of this operation for `payload`, executed on first use. */
  entryFor(payload: unknown): SharedEntry {
    if (typeof payload !== 'object' || payload === null) return this.run(payload);
    const first = this.shared.get(payload);
    if (!first) {
      const entry = this.run(payload);
      this.shared.set(payload, entry);
      return entry;
    }
    if (first.operationKey === this.key) return first;
    let entry = first.others?.get(this.key);
    if (!entry) (first.others ??= new Map()).set(this.key, (entry = this.run(payload)));
    return entry;
  }
}

/**
 * Who is told, once, that a frame pump stopped: what graphql-ws's loop over the pump's
 * `next()` learns from that one call settling, without a promise and its callbacks per
 * subscription (see ws.subscribe.ts).
 */
export interface StopWatcher {
  stopped(): void;
}

export const WATCH_STOP = Symbol('presence.watchStop');

export interface StopWatchable {
  /** `watcher.stopped()` runs once when the pump stops (at once if it has). `next()` is not used after this. */
  [WATCH_STOP](watcher: StopWatcher): void;
}

export function isStopWatchable(value: unknown): value is StopWatchable {
  return hasMethod(value, WATCH_STOP);
}

/**
 * Writes a subscription's events to its sink; graphql-ws holds it as the subscription's
 * iterator. Its one `next()` settles (done) when the source ends or the socket is gone (or
 * it tells its StopWatcher instead); `return()` (a client's complete, a closed socket) stops
 * the source. Pushed events are written in the turn they arrive; a result that is still a
 * promise (an async resolver) holds back later events, so frames keep the source's order.
 */
abstract class FramePump extends SharedResults implements AsyncIterableIterator<ExecutionResult>, StopWatchable {
  protected stopped = false;
  /** Who waits for the stop: `next()`'s resolver or a StopWatcher; null until one asks. */
  private waiter: ((done: IteratorResult<ExecutionResult>) => void) | StopWatcher | null = null;

  constructor(
    protected readonly source: AsyncIterator<unknown>,
    protected readonly sink: FrameSink,
    args: ExecutionArgs,
    shared: RecentByIdentity<object, SharedEntry>,
    executor: Executor,
  ) {
    super(args, shared, executor);
  }

  protected stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const waiter = this.waiter;
    this.waiter = null;
    if (typeof waiter === 'function') waiter(DONE);
    else waiter?.stopped();
  }

  /**
   * Writes one result's frame. A refused frame (the socket is gone) stops the source here,
   * since graphql-ws does not call return() on an iterator that finished by itself.
   */
  protected write(entry: SharedEntry, result: ExecutionResult): boolean {
    if (this.stopped) return false;
    if (this.sink.write(frameOf(entry, result, this.sink))) return true;
    this.stop();
    void Promise.resolve(this.source.return?.()).catch(() => undefined);
    return false;
  }

  [WATCH_STOP](watcher: StopWatcher): void {
    if (this.stopped) watcher.stopped();
    else this.waiter = watcher;
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.stopped) return Promise.resolve(DONE);
    return new Promise((resolve) => {
      // Every call waiting so far settles with the stop (graphql-ws makes one; a test may make more).
      const earlier = this.waiter;
      this.waiter = typeof earlier === 'function' ? (done) => (earlier(done), resolve(done)) : resolve;
    });
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.stop();
    await this.source.return?.();
    return DONE;
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.stop();
    await this.source.return?.();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ExecutionResult> {
    return this;
  }
}

/** For a push source: events are written as they are delivered. */
class PushedFrames extends FramePump implements PushReceiver {
  /** Async results still being waited for; while there are any, later events queue behind them. */
  private waiting: Promise<void> | null = null;

  constructor(source: AsyncIterator<unknown> & PushSource, sink: FrameSink, args: ExecutionArgs, shared: RecentByIdentity<object, SharedEntry>, executor: Executor) {
    super(source, sink, args, shared, executor);
    source[PUSH](this);
  }

  deliver(payload: unknown): void {
    if (this.stopped) return;
    const entry = this.entryFor(payload);
    const { result } = entry;
    if (this.waiting === null && !(result instanceof Promise)) {
      this.write(entry, result);
      return;
    }
    const mine: Promise<void> = (this.waiting ?? Promise.resolve())
      .then(() => result)
      .then((settled) => void this.write(entry, settled))
      .catch(() => this.stop())
      .finally(() => {
        if (this.waiting === mine) this.waiting = null;
      });
    this.waiting = mine;
  }

  end(): void {
    this.stop();
  }
}

/** For a plain async iterator: events are pulled one by one. */
class PulledFrames extends FramePump {
  constructor(source: AsyncIterator<unknown>, sink: FrameSink, args: ExecutionArgs, shared: RecentByIdentity<object, SharedEntry>, executor: Executor) {
    super(source, sink, args, shared, executor);
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.stopped) {
        const step = await this.source.next();
        if (step.done || this.stopped) break;
        const entry = this.entryFor(step.value);
        if (!this.write(entry, await entry.result)) return;
      }
    } catch {
      // The source failed: the subscription ends like a finished one.
    }
    this.stop();
  }
}

/**
 * A `subscribe` for graphql-ws. Documents are interned by text first (createDocumentCache),
 * so equal operations from different sockets share one key. With a FrameSink in the
 * context, each shared event is also serialized once per operation and id. Events run
 * through `executor` (graphql-js's `execute` unless given; the ws server passes its compiled one).
 */
export function createSharedSubscribe(executor: Executor = execute): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  // Sync results are cached as they are; async ones as their promise.
  const shared = new RecentByIdentity<object, SharedEntry>(8);
  return async (args) => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in Object(stream))) return stream as ExecutionResult;
    const source = (stream as Stream)[Symbol.asyncIterator]();
    const sink = (args.contextValue as { frameSink?: FrameSink } | undefined)?.frameSink;
    if (sink && isPushSource(source)) return new PushedFrames(source, sink, args, shared, executor);
    if (sink) return new PulledFrames(source, sink, args, shared, executor);
    const results = new SharedResults(args, shared, executor);
    return mapIterator(source, (payload) => results.entryFor(payload).result);
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
