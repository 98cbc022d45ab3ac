/**
 * A presenceChanged event executes synchronously against the real schema: with a promise
 * in between, every receiver of every event would pay for a promise chain.
 */
import { execute, parse } from 'graphql';
import { COMPILE_AFTER, createCompiledExecutor } from '../../src/graphql/compiled';
import { MemoryPubSub } from '../../src/realtime/pubsub';
import { PresenceEvent } from '../../src/presence/presence.type';
import { buildPresenceSchema } from '../../src/schema';

describe('presenceChanged execution', () => {
  it('resolves a whole event without a promise', async () => {
    const schema = await buildPresenceSchema(new MemoryPubSub());
    const at = Date.UTC(2026, 10, 23, 12);
    const event = PresenceEvent.from(
      {
        view: { userId: 'ann', status: 'BUSY', customStatus: 'in a call', activity: null, devices: [{ id: 'd1', type: 'WEB', status: 'ONLINE', connectedAt: at, lastSeenAt: at }], lastSeenAt: at, since: at, version: 7 },
        reason: 'STATUS_CHANGED',
        previousStatus: 'ONLINE',
      },
      at,
    );
    const document = parse('subscription($ids: [ID!]) { presenceChanged(userIds: $ids, initial: true) { reason previousStatus at presence { userId status customStatus version since devices { id status } } } }');
    const result = execute({ schema, document, rootValue: event, variableValues: { ids: ['ann'] } });
    expect(result).not.toBeInstanceOf(Promise);
    // The ws server's compiled executor: the same event, also without a promise, once compiled.
    const compiledExecute = createCompiledExecutor(schema);
    for (let run = 1; run <= COMPILE_AFTER + 1; run++) {
      const compiled = compiledExecute({ schema, document, rootValue: event, variableValues: { ids: ['ann'] } });
      expect(compiled).not.toBeInstanceOf(Promise);
      expect(JSON.stringify(compiled)).toBe(JSON.stringify(result));
    }
    expect(result).toEqual({
      data: {
        presenceChanged: {
          reason: 'STATUS_CHANGED',
          previousStatus: 'ONLINE',
          at: '2026-11-23T12:00:00.000Z',
          presence: { userId: 'ann', status: 'BUSY', customStatus: 'in a call', version: 7, since: '2026-11-23T12:00:00.000Z', devices: [{ id: 'd1', status: 'ONLINE' }] },
        },
      },
    });
  });
});
