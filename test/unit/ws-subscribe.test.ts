import { buildSchema, parse, validate } from 'graphql';
import { WebSocket } from 'ws';
import { GlueServer, startGlue } from '../helpers/glue';

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Subscription { ticks(n: Int!): Int, never: Int, failing: Int }
`);

interface Message {
  id?: string;
  type: string;
  payload?: unknown;
}

/**
 * The `subscribe` message as the glue handles it (outside graphql-ws's makeServer), over a
 * real socket: the messages and close codes graphql-ws's own handling gives.
 */
describe('subscribe messages', () => {
  let server: GlueServer;
  const sockets: WebSocket[] = [];
  /** Streams of `never` still open, and how many were stopped with return(). */
  let neverOpen = 0;
  let neverReturned = 0;
  const completed: string[] = [];

  const rootValue = {
    ticks: ({ n }: { n: number }) =>
      (async function* () {
        for (let i = 1; i <= n; i++) yield { ticks: i };
      })(),
    /** A stream without events until it is stopped; its pending next() then settles as done. */
    never: () => {
      neverOpen++;
      let stop: (() => void) | null = null;
      const done = { value: undefined, done: true } as const;
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        next: () => new Promise((resolve) => (stop = () => resolve(done))),
        return: async () => {
          neverOpen--;
          neverReturned++;
          stop?.();
          return done;
        },
      };
    },
    failing: () => ({
      [Symbol.asyncIterator]() {
        return this;
      },
      next: () => Promise.reject(new Error('the stream broke')),
    }),
  };

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check()).toBe(true);
  }

  /** An open socket (acknowledged unless `init` is false) and what it received. */
  async function connect(init = true): Promise<{ socket: WebSocket; received: Message[]; closed: Promise<{ code: number; reason: string }>; send(message: object): void }> {
    const socket = new WebSocket(server.url, 'graphql-transport-ws');
    sockets.push(socket);
    const received: Message[] = [];
    socket.on('message', (data) => received.push(JSON.parse(String(data)) as Message));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await new Promise((resolve) => socket.once('open', resolve));
    const send = (message: object) => socket.send(JSON.stringify(message));
    if (init) {
      send({ type: 'connection_init' });
      await until(() => received.some((m) => m.type === 'connection_ack'));
    }
    return { socket, received, closed, send };
  }

  beforeAll(async () => {
    server = await startGlue({
      schema,
      onConnect: () => true,
      onSubscribe: (_ctx, _id, payload) => {
        const document = parse(payload.query);
        const errors = validate(schema, document);
        return errors.length > 0 ? errors : { schema, document, variableValues: payload.variables, rootValue };
      },
      onComplete: (_ctx, id) => void completed.push(id),
    });
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => (s.readyState === WebSocket.CLOSED ? undefined : new Promise((r) => (s.once('close', r), s.close())))));
  });

  afterAll(async () => {
    await server.stop();
  });

  it('closes with 4401 when a subscribe comes before connection_init', async () => {
    const { send, closed } = await connect(false);
    send({ id: '1', type: 'subscribe', payload: { query: '{ ok }' } });
    expect(await closed).toEqual({ code: 4401, reason: 'Unauthorized' });
  });

  it('closes with 4400 on a subscribe message without a query', async () => {
    const { send, closed } = await connect();
    send({ id: '1', type: 'subscribe', payload: {} });
    expect((await closed).code).toBe(4400);
  });

  it('answers a query with next then complete, after which the id is free again', async () => {
    const { send, received } = await connect();
    send({ id: 'q', type: 'subscribe', payload: { query: '{ ok }' } });
    await until(() => received.some((m) => m.type === 'complete'));
    send({ id: 'q', type: 'subscribe', payload: { query: '{ ok }' } });
    await until(() => received.filter((m) => m.type === 'complete').length === 2);
    expect(received.slice(1).map((m) => [m.id, m.type])).toEqual([
      ['q', 'next'],
      ['q', 'complete'],
      ['q', 'next'],
      ['q', 'complete'],
    ]);
    expect(received[1]?.payload).toEqual({ data: { ok: null } });
  });

  it('streams a subscription and completes it when the stream ends', async () => {
    const { send, received } = await connect();
    send({ id: 't', type: 'subscribe', payload: { query: 'subscription($n: Int!) { ticks(n: $n) }', variables: { n: 3 } } });
    await until(() => received.some((m) => m.type === 'complete'));
    expect(received.slice(1)).toEqual([
      { id: 't', type: 'next', payload: { data: { ticks: 1 } } },
      { id: 't', type: 'next', payload: { data: { ticks: 2 } } },
      { id: 't', type: 'next', payload: { data: { ticks: 3 } } },
      { id: 't', type: 'complete' },
    ]);
    expect(completed).toContain('t');
  });

  it('closes with 4409 when an id is taken by a running subscription', async () => {
    const { send, closed } = await connect();
    send({ id: 'n', type: 'subscribe', payload: { query: 'subscription { never }' } });
    await until(() => neverOpen === 1);
    send({ id: 'n', type: 'subscribe', payload: { query: '{ ok }' } });
    expect(await closed).toEqual({ code: 4409, reason: 'Subscriber for n already exists' });
    // The close stopped the running stream.
    await until(() => neverOpen === 0);
  });

  it('stops a subscription the client completes, sends no complete back, and frees the id', async () => {
    const { send, received } = await connect();
    const returned = neverReturned;
    send({ id: 'c', type: 'subscribe', payload: { query: 'subscription { never }' } });
    await until(() => neverOpen === 1);
    send({ id: 'c', type: 'complete' });
    await until(() => neverReturned === returned + 1 && completed.includes('c'));
    send({ id: 'c', type: 'subscribe', payload: { query: '{ ok }' } });
    await until(() => received.some((m) => m.type === 'complete'));
    expect(received.slice(1).map((m) => [m.id, m.type])).toEqual([
      ['c', 'next'],
      ['c', 'complete'],
    ]);
  });

  it('reports a validation error as an error message and frees the id', async () => {
    const { send, received } = await connect();
    send({ id: 'v', type: 'subscribe', payload: { query: '{ nope }' } });
    await until(() => received.some((m) => m.type === 'error'));
    send({ id: 'v', type: 'subscribe', payload: { query: '{ ok }' } });
    await until(() => received.some((m) => m.type === 'complete'));
    expect(received.slice(1).map((m) => [m.id, m.type])).toEqual([
      ['v', 'error'],
      ['v', 'next'],
      ['v', 'complete'],
    ]);
    expect((received[1]?.payload as Array<{ message: string }>)[0]?.message).toMatch(/nope/);
  });

  it('reports a failing stream as an error message, without a complete', async () => {
    const { send, received } = await connect();
    send({ id: 'f', type: 'subscribe', payload: { query: 'subscription { failing }' } });
    await until(() => received.some((m) => m.type === 'error') && completed.includes('f'));
    send({ id: 'f', type: 'subscribe', payload: { query: '{ ok }' } });
    await until(() => received.some((m) => m.type === 'complete'));
    expect(received.slice(1).map((m) => [m.id, m.type])).toEqual([
      ['f', 'error'],
      ['f', 'next'],
      ['f', 'complete'],
    ]);
    expect(received[1]?.payload).toEqual([{ message: 'the stream broke' }]);
  });

  it('stops running subscriptions when the socket closes', async () => {
    const { send, socket } = await connect();
    send({ id: 'a', type: 'subscribe', payload: { query: 'subscription { never }' } });
    send({ id: 'b', type: 'subscribe', payload: { query: 'subscription { never }' } });
    await until(() => neverOpen === 2);
    socket.close();
    await until(() => neverOpen === 0 && completed.includes('a') && completed.includes('b'));
  });
});
