/** One execution per (event, operation), however many subscribers receive the event. */
import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { createDocumentCache, createSharedSubscribe } from '../../src/realtime/shared-execution';

function fanoutSchema(resolveCalls: { n: number }, sources: Array<(v: object) => void>) {
  const Event = new GraphQLObjectType({
    name: 'Event',
    fields: { text: { type: GraphQLString, resolve: (e: { text: string }) => (resolveCalls.n++, e.text) } },
  });
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        events: {
          type: Event,
          resolve: (payload: object) => payload,
          subscribe: () => {
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
          },
        },
      },
    }),
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
