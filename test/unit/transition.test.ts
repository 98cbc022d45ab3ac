/** The pure presence rules: views, versions, reasons, freezes. No I/O. */
import { emptyUserState, Relation, UserState } from '../../src/presence/presence.model';
import { PresenceCommand, nextVersion, transition, viewFor, VERSION_EPOCH_MS } from '../../src/presence/presence.transition';

const T0 = VERSION_EPOCH_MS + 1_000_000_000;
const contact: Relation = { contact: true, blocks: false, blockedBy: false };
const device = (id = 'd1', idle = false) => ({ id, type: 'WEB' as const, idle });
const hb = (id = 'd1', idle = false): PresenceCommand => ({ kind: 'heartbeat', device: device(id, idle), ttlMs: 60_000, maxDevices: 10 });

function run(state: UserState, steps: Array<[PresenceCommand, number, Relation?]>) {
  const messages = [];
  for (const [command, at, relation] of steps) {
    const r = transition(state, command, at, relation ?? null);
    state = r.state;
    if (r.message) messages.push(r.message);
  }
  return { state, messages };
}

describe('transition', () => {
  it('versions follow time and never repeat', () => {
    expect(nextVersion(0, VERSION_EPOCH_MS + 5_500)).toBe(5);
    expect(nextVersion(10, VERSION_EPOCH_MS + 5_500)).toBe(11);
    expect(nextVersion(10, VERSION_EPOCH_MS, 20)).toBe(21);
  });

  it('first heartbeat connects; a heartbeat that only extends the TTL publishes nothing', () => {
    const first = transition(emptyUserState('u'), hb(), T0);
    expect(first.message?.contact?.reason).toBe('CONNECTED');
    expect(first.message?.self?.reason).toBe('CONNECTED');
    const again = transition(first.state, hb(), T0 + 1000);
    expect(again.message).toBeNull();
    expect(again.state.devices.d1.deadline).toBe(T0 + 61_000);
  });

  it('idle devices show AWAY, a preference wins, INVISIBLE freezes the contact view', () => {
    const { state, messages } = run(emptyUserState('u'), [
      [hb('a', true), T0],
      [{ kind: 'setStatus', change: { status: 'BUSY' } }, T0 + 1000],
      [{ kind: 'setStatus', change: { status: 'INVISIBLE' } }, T0 + 2000],
      [{ kind: 'setStatus', change: { customStatus: 'hidden' } }, T0 + 3000],
    ]);
    expect(messages.map((m) => m.contact?.reason ?? null)).toEqual(['CONNECTED', 'STATUS_CHANGED', 'DISCONNECTED', null]);
    expect(messages.map((m) => m.self?.view.status)).toEqual(['AWAY', 'BUSY', 'INVISIBLE', 'INVISIBLE']);
    const seen = viewFor(state, 'friend', contact, T0 + 4000).view;
    expect(seen).toEqual(expect.objectContaining({ status: 'OFFLINE', customStatus: null, devices: [], lastSeenAt: T0 + 2000, since: T0 + 2000 }));
  });

  it('a block freezes what the blocked viewer saw; an unblock while online reconnects it with a higher version', () => {
    let state = transition(emptyUserState('u'), hb(), T0).state;
    const block = transition(state, { kind: 'setBlocks', other: 'v', blocks: true }, T0 + 1000, contact);
    expect(block.relationWrite).toEqual({ other: 'v', blocks: true });
    expect(block.message?.viewers.v).toEqual(expect.objectContaining({ cls: 'frozen', event: expect.objectContaining({ reason: 'DISCONNECTED' }) }));
    state = block.state;
    const frozenVersion = block.message!.viewers.v.event!.view.version;
    const quiet = transition(state, { kind: 'setStatus', change: { customStatus: 'x' } }, T0 + 2000);
    expect(quiet.message?.viewers.v).toBeUndefined();
    state = quiet.state;
    const unblock = transition(state, { kind: 'setBlocks', other: 'v', blocks: false }, T0 + 2000, { ...contact, blocks: true });
    const ev = unblock.message!.viewers.v.event!;
    expect(ev.reason).toBe('CONNECTED');
    expect(ev.view.version).toBeGreaterThan(frozenVersion);
    expect(ev.view.customStatus).toBe('x');
  });

  it('an unblock while invisible changes nothing until the user is visible again', () => {
    let state = run(emptyUserState('u'), [
      [hb(), T0],
      [{ kind: 'setBlocks', other: 'v', blocks: true }, T0 + 1000, contact],
      [{ kind: 'setStatus', change: { status: 'INVISIBLE' } }, T0 + 2000],
    ]).state;
    const unblock = transition(state, { kind: 'setBlocks', other: 'v', blocks: false }, T0 + 3000, { ...contact, blocks: true });
    expect(unblock.message?.viewers.v?.event ?? null).toBeNull();
    state = unblock.state;
    expect(viewFor(state, 'v', contact, T0 + 3000).view.lastSeenAt).toBe(T0 + 1000);
    const visible = transition(state, { kind: 'setStatus', change: { status: 'ONLINE' } }, T0 + 4000);
    expect(visible.message?.viewers.v?.event?.reason).toBe('CONNECTED');
    expect(visible.message?.contact?.reason).toBe('CONNECTED');
  });

  it('a removed contact gets one CONTACT_REMOVED with the stranger view', () => {
    const state = transition(emptyUserState('u'), hb(), T0).state;
    const r = transition(state, { kind: 'setContact', other: 'v', contact: false }, T0 + 10, contact);
    expect(r.message?.viewers.v).toEqual({
      cls: 'stranger',
      event: expect.objectContaining({ reason: 'CONTACT_REMOVED', previousStatus: 'ONLINE', view: expect.objectContaining({ version: 0, lastSeenAt: null }) }),
    });
  });

  it('a closed socket starts the grace period, which replaces a later heartbeat deadline', () => {
    const { state } = run(emptyUserState('u'), [
      [{ kind: 'connect', device: device(), token: 'n#1#c', maxDevices: 10 }, T0],
      [hb(), T0 + 10],
      [{ kind: 'disconnect', deviceId: 'd1', token: 'n#1#c', graceMs: 5000 }, T0 + 20],
    ]);
    expect(state.devices.d1.deadline).toBe(T0 + 5020);
    const expired = transition(state, { kind: 'expire', deviceId: 'd1' }, T0 + 5020);
    expect(expired.message?.contact?.reason).toBe('DISCONNECTED');
  });

  it('eviction removes the least recently seen device and revokes its sockets', () => {
    let state = emptyUserState('u');
    state = transition(state, { kind: 'connect', device: device('sock'), token: 'n#1#s', maxDevices: 2 }, T0).state;
    state = transition(state, { kind: 'heartbeat', device: device('old'), ttlMs: 60_000, maxDevices: 2 }, T0 + 1).state;
    const third = transition(state, { kind: 'heartbeat', device: device('new'), ttlMs: 60_000, maxDevices: 2 }, T0 + 2);
    expect(Object.keys(third.state.devices).sort()).toEqual(['new', 'sock']);
    const fourth = transition(third.state, { kind: 'heartbeat', device: device('newer'), ttlMs: 60_000, maxDevices: 1 }, T0 + 3);
    expect(Object.keys(fourth.state.devices)).toEqual(['newer']);
    expect(fourth.state.revoked).toEqual(['n#1#s']);
  });

  it('expire keeps a socket-held device and reports a later deadline', () => {
    const held = transition(emptyUserState('u'), { kind: 'connect', device: device(), token: 'n#1#c', maxDevices: 10 }, T0).state;
    expect(transition(held, { kind: 'expire', deviceId: 'd1' }, T0 + 999_999).keptUntil).toBeNull();
    const beat = transition(emptyUserState('u'), hb(), T0).state;
    expect(transition(beat, { kind: 'expire', deviceId: 'd1' }, T0 + 1).keptUntil).toBe(T0 + 60_000);
    expect(transition(beat, { kind: 'expire', deviceId: 'd1' }, T0 + 60_000).message?.contact?.reason).toBe('EXPIRED');
  });
});
