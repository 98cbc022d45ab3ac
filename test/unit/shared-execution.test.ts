/** One execution per (event, operation), however many subscribers receive the event. */
import { ExecutionArgs, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import v8 from 'node:v8';
import { FrameSink, PUSH, PushReceiver, WATCH_STOP, createDocumentCache, createSharedSubscribe, isStopWatchable, withRoot } from '../../src/realtime/shared-execution';

/** A schema whose one subscription field, `events`, streams what `subscribe` returns. */
function eventsSchema(Event: GraphQLObjectType, subscribe: () => unknown): GraphQLSchema {
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: { events: { type: Event, resolve: (payload: object) => payload, subscribe } },
    }),
  });
}

function fanoutSchema(resolveCalls: { n: number }, sources: Array<(v: object) => void>) {
  const Event = new GraphQLObjectType({
    name: 'Event',
    fields: { text: { type: GraphQLString, resolve: (e: { text: string }) => (resolveCalls.n++, e.text) } },
  });
  return eventsSchema(Event, () => {
    const queue: object[] = [];
    let wake: (() => void) | null = null;
    sources.push((v) => {
      queue.push(v);
      wake?.();
    });
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        return { value: queue.shift(), done: false };
      },
      async return() {
        return { value: undefined, done: true };
      },
    };
  });
}

describe('shared subscription execution', () => {
  it('executes a shared event once for every subscriber with the same operation', async () => {
    const calls = { n: 0 };
    const sources: Array<(v: object) => void> = [];
    const schema = fanoutSchema(calls, sources);
    const subscribe = createSharedSubscribe();
    const parseCached = createDocumentCache(parse);
    const iterators = await Promise.all(
      Array.from({ length: 5 }, async () => (await subscribe({ schema, document: parseCached('subscription { events { text } }') })) as AsyncIterableIterator<unknown>),
    );
    const shared = { text: 'hello' };
    sources.forEach((push) => push(shared));
    const results = await Promise.all(iterators.map((it) => it.next()));
    expect(results.map((r) => r.value)).toEqual(Array(5).fill({ data: { events: { text: 'hello' } } }));
    expect(calls.n).toBe(1);
    sources.forEach((push) => push({ text: 'per receiver' }));
    await Promise.all(iterators.map((it) => it.next()));
    expect(calls.n).toBe(6); // distinct payload objects are executed each
    await Promise.all(iterators.map((it) => it.return?.()));
  });
});

/** A push source like the presence follower: values are handed over as they are produced. */
function pushSchema(resolveCalls: { n: number }, sources: Array<{ push(v: object): void; returned: boolean }>, asyncField = false) {
  const Event = new GraphQLObjectType({
    name: 'Event',
    fields: {
      text: {
        type: GraphQLString,
        resolve: (e: { text: string; delayMs?: number }) => {
          resolveCalls.n++;
          return asyncField ? new Promise((r) => setTimeout(() => r(e.text), e.delayMs ?? 0)) : e.text;
        },
      },
    },
  });
  return eventsSchema(Event, () => {
    let receiver: PushReceiver | null = null;
    const source = {
      returned: false,
      push: (v: object) => receiver?.deliver(v),
    };
    sources.push(source);
    const iterator = {
      [PUSH](r: PushReceiver) {
        receiver = r;
      },
      next: () => new Promise<IteratorResult<unknown>>(() => undefined),
      async return() {
        source.returned = true;
        receiver?.end();
        return { value: undefined, done: true as const };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  });
}

function recordingSink(id: string, accept = () => true): FrameSink & { frames: string[] } {
  const frames: string[] = [];
  return { id, frames, frame: (message) => Buffer.from(message), write: (frame) => (frames.push(frame.toString()), accept()), format: (r) => r };
}

describe('pushed subscription events', () => {
  const document = parse('subscription { events { text } }');

  it('writes each shared event once-executed, in the same turn, to every sink', async () => {
    const calls = { n: 0 };
    const sources: Array<{ push(v: object): void; returned: boolean }> = [];
    const schema = pushSchema(calls, sources);
    const subscribe = createSharedSubscribe();
    const sinks = [recordingSink('1'), recordingSink('1'), recordingSink('a')];
    const iterators = await Promise.all(sinks.map(async (frameSink) => (await subscribe({ schema, document, contextValue: { frameSink } } as ExecutionArgs)) as AsyncIterableIterator<unknown>));
    const shared = { text: 'hello' };
    sources.forEach((s) => s.push(shared));
    // No await in between: the frames are already written.
    expect(sinks.map((s) => s.frames)).toEqual([
      ['{"id":"1","type":"next","payload":{"data":{"events":{"text":"hello"}}}}'],
      ['{"id":"1","type":"next","payload":{"data":{"events":{"text":"hello"}}}}'],
      ['{"id":"a","type":"next","payload":{"data":{"events":{"text":"hello"}}}}'],
    ]);
    expect(calls.n).toBe(1);
    await Promise.all(iterators.map((it) => it.return?.()));
    expect(sources.every((s) => s.returned)).toBe(true);
  });

  it('keeps the order of events whose execution is async', async () => {
    const sources: Array<{ push(v: object): void; returned: boolean }> = [];
    const schema = pushSchema({ n: 0 }, sources, true);
    const sink = recordingSink('1');
    const iterator = (await createSharedSubscribe()({ schema, document, contextValue: { frameSink: sink } } as ExecutionArgs)) as AsyncIterableIterator<unknown>;
    sources[0]?.push({ text: 'first', delayMs: 30 });
    sources[0]?.push({ text: 'second', delayMs: 0 });
    await new Promise((r) => setTimeout(r, 80));
    expect(sink.frames.map((f) => (JSON.parse(f) as { payload: { data: { events: { text: string } } } }).payload.data.events.text)).toEqual(['first', 'second']);
    await iterator.return?.();
  });

  it('stops the source and finishes when the socket refuses a frame', async () => {
    const sources: Array<{ push(v: object): void; returned: boolean }> = [];
    const schema = pushSchema({ n: 0 }, sources);
    const sink = recordingSink('1', () => false);
    const iterator = (await createSharedSubscribe()({ schema, document, contextValue: { frameSink: sink } } as ExecutionArgs)) as AsyncIterableIterator<unknown>;
    const finished = iterator.next();
    sources[0]?.push({ text: 'lost' });
    await expect(finished).resolves.toEqual({ value: undefined, done: true });
    await new Promise((r) => setImmediate(r));
    expect(sources[0]?.returned).toBe(true);
    sources[0]?.push({ text: 'after' });
    expect(sink.frames).toHaveLength(1);
  });

  it('tells a stop watcher once when the pump stops, and settles every pending next()', async () => {
    const sources: Array<{ push(v: object): void; returned: boolean }> = [];
    const schema = pushSchema({ n: 0 }, sources);
    const subscribe = createSharedSubscribe();
    const watched = await subscribe({ schema, document, contextValue: { frameSink: recordingSink('1') } } as ExecutionArgs);
    expect(isStopWatchable(watched)).toBe(true);
    let told = 0;
    if (isStopWatchable(watched)) watched[WATCH_STOP]({ stopped: () => told++ });
    sources[0]?.push({ text: 'one' });
    expect(told).toBe(0);
    await (watched as AsyncIterableIterator<unknown>).return?.();
    await (watched as AsyncIterableIterator<unknown>).return?.();
    expect(told).toBe(1);
    expect(sources[0]?.returned).toBe(true);

    const pulled = (await subscribe({ schema, document, contextValue: { frameSink: recordingSink('2') } } as ExecutionArgs)) as AsyncIterableIterator<unknown>;
    const first = pulled.next();
    const second = pulled.next();
    await pulled.return?.();
    await expect(Promise.all([first, second])).resolves.toEqual([
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  });
});

describe('the arguments of one event execution', () => {
  const schema = eventsSchema(new GraphQLObjectType({ name: 'Event', fields: { text: { type: GraphQLString } } }), () => undefined);
  const document = parse('subscription { events { text } }');

  it('carry every ExecutionArgs field of the subscription, with the event as rootValue', () => {
    const fieldResolver = (): null => null;
    const typeResolver = (): undefined => undefined;
    const subscribeFieldResolver = (): null => null;
    const args: Required<ExecutionArgs> = {
      schema,
      document,
      rootValue: 'the subscription root',
      contextValue: { viewer: 'ann' },
      variableValues: { ids: ['bob'] },
      operationName: 'Watch',
      fieldResolver,
      typeResolver,
      subscribeFieldResolver,
      hideSuggestions: true,
      options: { maxCoercionErrors: 5 },
    };
    const event = { text: 'hi' };
    expect(withRoot(args, event)).toEqual({ ...args, rootValue: event });
    expect(withRoot({ schema, document }, event)).toEqual({ schema, document, rootValue: event });
  });

  it('share one hidden class across subscriptions and events', () => {
    // V8's own check; --allow-natives-syntax only changes how later code is parsed.
    v8.setFlagsFromString('--allow-natives-syntax');
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const first: ExecutionArgs = { schema, document, contextValue: {}, variableValues: {}, operationName: null };
    // A second subscription's args, built in another order and then used as a prototype.
    const second: ExecutionArgs = { operationName: 'Other', document, schema, variableValues: { a: 1 }, contextValue: { b: 2 } };
    Object.create(second);
    expect(sameMap(withRoot(first, { n: 1 }), withRoot(second, { n: 2 }))).toBe(true);
    expect(sameMap(withRoot(first, { n: 1 }), withRoot(first, 'a string root'))).toBe(true);
  });
});
