import { buildSchema, parse } from 'graphql';
import { WebSocket } from 'ws';
import { OPERATIONS_PER_SOCKET } from '../../src/realtime/ws.glue';
import { GlueServer, startGlue } from '../helpers/glue';

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Mutation { hold(n: Int!): Int! }
  type Subscription { never: Int, broken: Int }
`);

/** Per socket, at most OPERATIONS_PER_SOCKET queries and mutations run; the rest wait, in order, over a real socket. */
describe('operations per socket', () => {
  let server: GlueServer;
  let client: WebSocket;
  let readsPaused = 0;
  /** Mutations whose resolver has started, in order, with the function that lets each finish. */
  const started: Array<{ n: number; finish: () => void }> = [];
  const received: Array<{ id?: string; type: string; payload?: { data?: { hold: number } } }> = [];

  const rootValue = {
    hold: ({ n }: { n: number }) => new Promise<number>((resolve) => started.push({ n, finish: () => resolve(n) })),
    never: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined), return: async () => ({ value: undefined, done: true }) }) }),
    broken: () => {
      throw new Error('no such stream');
    },
  };

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check()).toBe(true);
  }
  const settle = () => new Promise((r) => setTimeout(r, 100));
  const send = (message: object) => client.send(JSON.stringify(message));

  beforeAll(async () => {
    server = await startGlue(
      {
        schema,
        onConnect: () => true,
        onSubscribe: (_ctx, _id, payload) => ({ schema, document: parse(payload.query), variableValues: payload.variables, rootValue }),
      },
      { readsPaused: () => readsPaused++ },
    );
    client = new WebSocket(server.url, 'graphql-transport-ws');
    client.on('message', (data) => received.push(JSON.parse(String(data))));
    await new Promise((resolve) => client.once('open', resolve));
    send({ type: 'connection_init' });
    await until(() => received.some((m) => m.type === 'connection_ack'));
  });

  afterAll(async () => {
    client.terminate();
    await server.stop();
  });

  it('runs a few at once and the rest in order as each finishes; subscriptions, working or failed, do not count', async () => {
    expect(OPERATIONS_PER_SOCKET).toBeGreaterThan(1);
    for (let i = 0; i < OPERATIONS_PER_SOCKET + 1; i++) send({ id: `s${i}`, type: 'subscribe', payload: { query: 'subscription { never }' } });
    // A subscription that fails to start answers with an error result; it frees no slot it never took.
    for (let i = 0; i < 2; i++) send({ id: `b${i}`, type: 'subscribe', payload: { query: 'subscription { broken }' } });
    await until(() => received.filter((m) => m.id?.startsWith('b') && m.type === 'complete').length === 2);
    const total = OPERATIONS_PER_SOCKET + 6;
    for (let n = 0; n < total; n++) send({ id: `m${n}`, type: 'subscribe', payload: { query: `mutation { hold(n: ${n}) }` } });
    send({ type: 'ping' });

    await until(() => started.length === OPERATIONS_PER_SOCKET);
    await settle();
    expect(started.map((s) => s.n)).toEqual([...Array(OPERATIONS_PER_SOCKET).keys()]);
    expect(readsPaused).toBe(1);
    // The ping came after the held mutations: it waits with them.
    expect(received.some((m) => m.type === 'pong')).toBe(false);

    started[1].finish();
    await until(() => started.length === OPERATIONS_PER_SOCKET + 1);
    await settle();
    expect(started.length).toBe(OPERATIONS_PER_SOCKET + 1);
    expect(started[OPERATIONS_PER_SOCKET].n).toBe(OPERATIONS_PER_SOCKET);

    for (let i = 0; i < total; i++) {
      await until(() => started.length > i);
      started[i].finish();
    }
    const mutations = () => received.filter((m) => m.id?.startsWith('m'));
    await until(() => mutations().filter((m) => m.type === 'complete').length === total);
    const results = mutations()
      .filter((m) => m.type === 'next')
      .map((m) => [m.id, m.payload?.data?.hold]);
    expect(results).toHaveLength(total);
    for (const [id, n] of results) expect(id).toBe(`m${n}`);
    expect(received.some((m) => m.type === 'pong')).toBe(true);
  });
});
