/**
 * The presence state machine: one pure function from (state, command, now) to the next
 * state and the message that tells each class of viewers what changed. Both stores run
 * exactly this code, so the rules exist once; no I/O happens here.
 */
import {
  ActivityData,
  BlockFreeze,
  DeviceState,
  DeviceType,
  DeviceView,
  PresenceChangeReason,
  PresenceMessage,
  PresenceStatus,
  PresenceView,
  Relation,
  StatusPreference,
  StoredView,
  UserState,
  ViewClass,
  ViewerChange,
  ViewEvent,
  strangerView,
} from './presence.model';

/** Versions follow time from this instant, so a jump in version reveals only elapsed time. */
export const VERSION_EPOCH_MS = Date.UTC(2026, 0, 1);

export interface DeviceParams {
  id: string;
  type: DeviceType;
  idle: boolean;
}

export interface StatusChange {
  status?: StatusPreference;
  /** undefined keeps, null clears. */
  customStatus?: string | null;
  activity?: { type: ActivityData['type']; name: string; url: string | null } | null;
}

export type PresenceCommand =
  | { kind: 'heartbeat'; device: DeviceParams; ttlMs: number; maxDevices: number }
  | { kind: 'connect'; device: DeviceParams; token: string; maxDevices: number }
  | { kind: 'disconnect'; deviceId: string; token: string; graceMs: number }
  | { kind: 'dropTokens'; deviceId: string; nodeId: string; maxEpoch: number; graceMs: number }
  | { kind: 'expire'; deviceId: string }
  | { kind: 'goOffline'; deviceId: string | null }
  | { kind: 'setStatus'; change: StatusChange }
  | { kind: 'setContact'; other: string; contact: boolean }
  | { kind: 'setBlocks'; other: string; blocks: boolean }
  | { kind: 'setBlockedBy'; other: string; blockedBy: boolean };

/** Relation-set writes a transition asks the store to make with its state, atomically. */
export interface RelationWrite {
  other: string;
  contact?: boolean;
  blocks?: boolean;
  blockedBy?: boolean;
}

export interface TransitionResult {
  state: UserState;
  /** Null when nothing anyone can see changed and no relation changed. */
  message: PresenceMessage | null;
  relationWrite: RelationWrite | null;
  /** Devices that left the state (for index clean-up by the store). */
  removedDevices: string[];
  /** For `expire`: the device was kept; its deadline, or null when a socket holds it. */
  keptUntil?: number | null;
  /** For relation commands: whether the relation actually changed. */
  relationChanged?: boolean;
  /** True when the state blob itself changed and must be written. */
  stateChanged: boolean;
}

/** `max(previous + 1, whole seconds since 2026-01-01, floor + 1)`. */
export function nextVersion(previous: number, now: number, floor = 0): number {
  return Math.max(previous + 1, Math.floor((now - VERSION_EPOCH_MS) / 1000), floor + 1);
}

function deviceStatus(device: DeviceState): PresenceStatus {
  return device.idle ? 'AWAY' : 'ONLINE';
}

function deviceViews(state: UserState, now: number): DeviceView[] {
  return Object.values(state.devices)
    .sort((a, b) => a.connectedAt - b.connectedAt || a.id.localeCompare(b.id))
    .map((d) => ({
      id: d.id,
      type: d.type,
      status: deviceStatus(d),
      connectedAt: d.connectedAt,
      // A socket-held device is seen right now by the node holding it.
      lastSeenAt: d.conns.length > 0 ? Math.max(d.lastSeenAt, now) : d.lastSeenAt,
    }));
}

/** The status rule of PRESENCE.md, for a user with at least one live device. */
export function resolveVisibleStatus(preference: StatusPreference, devices: DeviceState[]): PresenceStatus {
  if (devices.length === 0) return 'OFFLINE';
  if (preference !== 'ONLINE') return preference;
  return devices.some((d) => !d.idle) ? 'ONLINE' : 'AWAY';
}

function onlineLastSeen(devices: DeviceView[], fallback: number | null): number | null {
  let latest = fallback;
  for (const d of devices) latest = latest === null ? d.lastSeenAt : Math.max(latest, d.lastSeenAt);
  return latest;
}

function sameActivity(a: ActivityData | null, b: ActivityData | null): boolean {
  if (a === null || b === null) return a === b;
  return a.type === b.type && a.name === b.name && a.url === b.url && a.startedAt === b.startedAt;
}

function sameDevices(a: DeviceView[], b: DeviceView[]): boolean {
  return (
    a.length === b.length &&
    a.every((d, i) => d.id === b[i].id && d.type === b[i].type && d.status === b[i].status && d.connectedAt === b[i].connectedAt)
  );
}

/** Whether a viewer would notice a difference (lastSeenAt movement alone is not one). */
function sameVisible(a: StoredView, b: StoredView): boolean {
  return (
    a.status === b.status &&
    a.customStatus === b.customStatus &&
    sameActivity(a.activity, b.activity) &&
    sameDevices(a.devices, b.devices) &&
    a.since === b.since
  );
}

function offlineFrom(prev: StoredView, lastSeenAt: number | null, now: number): StoredView {
  return { status: 'OFFLINE', customStatus: null, activity: null, devices: [], lastSeenAt, since: now, version: prev.version };
}

function selfCandidate(state: UserState, prev: StoredView, now: number): StoredView {
  const devices = Object.values(state.devices);
  const status = devices.length === 0 ? 'OFFLINE' : state.preference === 'INVISIBLE' ? 'INVISIBLE' : resolveVisibleStatus(state.preference, devices);
  const views = deviceViews(state, now);
  const stayedOffline = status === 'OFFLINE' && prev.status === 'OFFLINE';
  return {
    status,
    customStatus: state.customStatus,
    activity: state.activity,
    devices: views,
    lastSeenAt: stayedOffline ? prev.lastSeenAt : status === 'OFFLINE' ? state.lastSeenAt : onlineLastSeen(views, state.lastSeenAt),
    since: prev.status === status ? prev.since : now,
    version: prev.version,
  };
}

function contactCandidate(state: UserState, prev: StoredView, now: number): StoredView {
  const devices = Object.values(state.devices);
  if (devices.length === 0 || state.preference === 'INVISIBLE') {
    // Frozen offline: an offline view never moves while the user stays hidden.
    return prev.status === 'OFFLINE' ? prev : offlineFrom(prev, state.lastSeenAt, now);
  }
  const status = resolveVisibleStatus(state.preference, devices);
  const views = deviceViews(state, now);
  return {
    status,
    customStatus: state.customStatus,
    activity: state.activity,
    devices: views,
    lastSeenAt: onlineLastSeen(views, state.lastSeenAt),
    since: prev.status === status ? prev.since : now,
    version: prev.version,
  };
}

function reasonFor(prev: StoredView, next: StoredView, offlineReason: PresenceChangeReason): PresenceChangeReason {
  if (prev.status === 'OFFLINE' && next.status !== 'OFFLINE') return 'CONNECTED';
  if (prev.status !== 'OFFLINE' && next.status === 'OFFLINE') return offlineReason;
  if (prev.status !== next.status) return 'STATUS_CHANGED';
  if (prev.customStatus !== next.customStatus || !sameActivity(prev.activity, next.activity)) return 'PROFILE_CHANGED';
  if (!sameDevices(prev.devices, next.devices)) return 'DEVICES_CHANGED';
  return 'PROFILE_CHANGED';
}

/** Expands a stored view into the Presence object a receiver gets. */
export function toView(userId: string, stored: StoredView): PresenceView {
  return { userId, ...stored };
}

/**
 * What `viewerId` sees of the user, given the user's relation to the viewer (read from
 * the user's slot). `now` refreshes lastSeenAt of socket-held devices of an online user.
 */
export function viewFor(state: UserState, viewerId: string, relation: Relation, now: number): { cls: ViewClass; view: PresenceView } {
  const cls = classify(state, viewerId, relation);
  return { cls, view: viewOfClass(state, cls, viewerId, now) };
}

export function classify(state: UserState, viewerId: string, relation: Relation): ViewClass {
  if (viewerId === state.userId) return 'self';
  if (relation.blockedBy || !relation.contact) return 'stranger';
  return state.blockFreezes[viewerId] ? 'frozen' : 'contact';
}

export function viewOfClass(state: UserState, cls: ViewClass, viewerId: string, now: number): PresenceView {
  switch (cls) {
    case 'stranger':
      return strangerView(state.userId);
    case 'frozen':
      return toView(state.userId, state.blockFreezes[viewerId].view);
    case 'self':
      return toView(state.userId, refreshOnline(state, state.self, now));
    case 'contact':
      return toView(state.userId, refreshOnline(state, state.contact, now));
  }
}

function refreshOnline(state: UserState, stored: StoredView, now: number): StoredView {
  if (stored.status === 'OFFLINE') return stored;
  const byId = new Map(deviceViews(state, now).map((d) => [d.id, d]));
  const devices = stored.devices.map((d) => byId.get(d.id) ?? d);
  return { ...stored, devices, lastSeenAt: onlineLastSeen(devices, stored.lastSeenAt) };
}

/** Connection tokens are `node#epoch#connId`. */
export function connectionToken(nodeId: string, epoch: number, connId: string): string {
  return `${nodeId}#${epoch}#${connId}`;
}

function tokenOfDeadEpoch(token: string, nodeId: string, maxEpoch: number): boolean {
  const [node, epoch] = token.split('#');
  return node === nodeId && Number(epoch) <= maxEpoch;
}

function cloneView(view: StoredView): StoredView {
  return { ...view, devices: view.devices.map((d) => ({ ...d })), activity: view.activity ? { ...view.activity } : null };
}

/** A deep copy of exactly the shape UserState has (structuredClone was a tenth of a transition's time). */
function cloneState(state: UserState): UserState {
  const devices: Record<string, DeviceState> = {};
  for (const [id, d] of Object.entries(state.devices)) devices[id] = { ...d, conns: [...d.conns] };
  const blockFreezes: Record<string, BlockFreeze> = {};
  for (const [viewer, f] of Object.entries(state.blockFreezes)) blockFreezes[viewer] = { blocked: f.blocked, view: cloneView(f.view) };
  return {
    ...state,
    activity: state.activity ? { ...state.activity } : null,
    devices,
    self: cloneView(state.self),
    contact: cloneView(state.contact),
    blockFreezes,
    ...(state.revoked ? { revoked: [...state.revoked] } : {}),
  };
}

function touchDevice(state: UserState, params: DeviceParams, now: number): DeviceState {
  const existing = state.devices[params.id];
  const device: DeviceState = existing ?? {
    id: params.id,
    type: params.type,
    idle: params.idle,
    connectedAt: now,
    lastSeenAt: now,
    deadline: now,
    conns: [],
    lastConnectedAt: 0,
  };
  device.type = params.type;
  device.idle = params.idle;
  device.lastSeenAt = now;
  delete device.endReason;
  state.devices[params.id] = device;
  state.lastSeenAt = now;
  return device;
}

/** Evicts least recently seen devices beyond `max`; a socket-held device counts as seen now. */
function evictBeyond(state: UserState, max: number, keep: string, now: number, removed: string[]): void {
  const devices = Object.values(state.devices);
  if (devices.length <= max) return;
  const order = devices
    .filter((d) => d.id !== keep)
    .sort((a, b) => {
      const seenA = a.conns.length > 0 ? now : a.lastSeenAt;
      const seenB = b.conns.length > 0 ? now : b.lastSeenAt;
      return seenA - seenB || a.lastConnectedAt - b.lastConnectedAt || a.connectedAt - b.connectedAt;
    });
  for (const victim of order.slice(0, devices.length - max)) revokeDevice(state, victim.id, removed);
}

const MAX_REVOKED = 100;

/** Removes a device on purpose: its open sockets, if any, must not bring it back by themselves. */
function revokeDevice(state: UserState, id: string, removed: string[]): void {
  const device = state.devices[id];
  if (!device) return;
  if (device.conns.length > 0) state.revoked = [...(state.revoked ?? []), ...device.conns].slice(-MAX_REVOKED);
  delete state.devices[id];
  removed.push(id);
}

function removeDevice(state: UserState, id: string, removed: string[]): void {
  if (state.devices[id]) {
    delete state.devices[id];
    removed.push(id);
  }
}

interface Applied {
  offlineReason: PresenceChangeReason;
  keptUntil?: number | null;
  relationWrite: RelationWrite | null;
  relationChanged?: boolean;
  stateTouched: boolean;
}

function applyCommand(state: UserState, command: PresenceCommand, relation: Relation | null, now: number, removed: string[]): Applied {
  const plain: Applied = { offlineReason: 'DISCONNECTED', relationWrite: null, stateTouched: true };
  switch (command.kind) {
    case 'heartbeat': {
      const device = touchDevice(state, command.device, now);
      device.deadline = Math.max(device.deadline, now + command.ttlMs);
      evictBeyond(state, command.maxDevices, device.id, now, removed);
      return plain;
    }
    case 'connect': {
      const device = touchDevice(state, command.device, now);
      if (!device.conns.includes(command.token)) device.conns.push(command.token);
      device.lastConnectedAt = now;
      evictBeyond(state, command.maxDevices, device.id, now, removed);
      return plain;
    }
    case 'disconnect':
    case 'dropTokens': {
      const device = state.devices[command.deviceId];
      if (!device) return { ...plain, stateTouched: false };
      const before = device.conns.length;
      device.conns =
        command.kind === 'disconnect'
          ? device.conns.filter((t) => t !== command.token)
          : device.conns.filter((t) => !tokenOfDeadEpoch(t, command.nodeId, command.maxEpoch));
      if (device.conns.length === before) return { ...plain, stateTouched: false };
      if (device.conns.length === 0) {
        // The grace period replaces any heartbeat deadline: a closed tab stops both.
        device.deadline = now + command.graceMs;
        // A socket closed by its client disconnects; one lost with its node expires.
        device.endReason = command.kind === 'disconnect' ? 'DISCONNECTED' : 'EXPIRED';
        device.lastSeenAt = now;
        state.lastSeenAt = Math.max(state.lastSeenAt ?? 0, now);
      }
      return plain;
    }
    case 'expire': {
      const device = state.devices[command.deviceId];
      if (!device) return { ...plain, stateTouched: false };
      if (device.conns.length > 0) return { ...plain, stateTouched: false, keptUntil: null };
      if (device.deadline > now) return { ...plain, stateTouched: false, keptUntil: device.deadline };
      removeDevice(state, device.id, removed);
      return { ...plain, offlineReason: device.endReason ?? 'EXPIRED' };
    }
    case 'goOffline': {
      const ids = command.deviceId === null ? Object.keys(state.devices) : [command.deviceId];
      for (const id of ids) revokeDevice(state, id, removed);
      state.lastSeenAt = now;
      return plain;
    }
    case 'setStatus': {
      const { change } = command;
      if (change.status !== undefined) state.preference = change.status;
      if (change.customStatus !== undefined) state.customStatus = change.customStatus;
      if (change.activity !== undefined) {
        const a = change.activity;
        const same = a && state.activity && a.type === state.activity.type && a.name === state.activity.name && a.url === state.activity.url;
        state.activity = a === null ? null : same && state.activity ? state.activity : { ...a, startedAt: now };
      }
      if (Object.keys(state.devices).length > 0) state.lastSeenAt = now;
      return plain;
    }
    case 'setContact':
    case 'setBlocks':
    case 'setBlockedBy':
      return applyRelation(state, command, relation ?? { contact: false, blocks: false, blockedBy: false });
  }
}

function applyRelation(
  state: UserState,
  command: Extract<PresenceCommand, { kind: 'setContact' | 'setBlocks' | 'setBlockedBy' }>,
  relation: Relation,
): Applied {
  const key = command.kind === 'setContact' ? 'contact' : command.kind === 'setBlocks' ? 'blocks' : 'blockedBy';
  const value = command.kind === 'setContact' ? command.contact : command.kind === 'setBlocks' ? command.blocks : command.blockedBy;
  const changed = relation[key] !== value;
  return {
    offlineReason: 'DISCONNECTED',
    relationWrite: changed ? { other: command.other, [key]: value } : null,
    relationChanged: changed,
    stateTouched: false,
  };
}

function makeEvent(userId: string, prev: StoredView, next: StoredView, offlineReason: PresenceChangeReason): ViewEvent {
  return { view: toView(userId, next), reason: reasonFor(prev, next, offlineReason), previousStatus: prev.status };
}

/** A view frozen at this moment from what the viewer saw: offline views stay exactly as they are. */
function freezeFrom(seen: StoredView, now: number): StoredView {
  if (seen.status === 'OFFLINE') return { ...seen };
  // Seen online until this moment, exactly like a disconnect now.
  return { ...offlineFrom(seen, now, now), version: nextVersion(seen.version, now) };
}

/**
 * Applies one command to one user's state.
 * `relation` is the user's relation to `command.other` for relation commands, read on
 * the same atomic step as the state.
 */
export function transition(state: UserState, command: PresenceCommand, now: number, relation: Relation | null = null): TransitionResult {
  const next = cloneState(state);
  const removed: string[] = [];
  const applied = applyCommand(next, command, relation, now, removed);
  const viewers: Record<string, ViewerChange> = {};

  // Self view.
  const selfCand = selfCandidate(next, state.self, now);
  let selfEvent: ViewEvent | null = null;
  if (!sameVisible(state.self, selfCand)) {
    next.self = { ...selfCand, version: nextVersion(state.self.version, now) };
    selfEvent = makeEvent(next.userId, state.self, next.self, applied.offlineReason);
  } else {
    next.self = { ...selfCand, version: state.self.version };
  }

  // Contact view, and the block freezes that its going visibly online releases.
  const contactCand = contactCandidate(next, state.contact, now);
  const contactChanged = !sameVisible(state.contact, contactCand);
  const releasing =
    contactCand.status === 'OFFLINE'
      ? []
      : Object.entries(next.blockFreezes).filter(([viewer, f]) => !f.blocked && !(command.kind === 'setBlocks' && command.other === viewer && command.blocks));
  const floor = Math.max(0, ...releasing.map(([, f]) => f.view.version));
  const needsBump = contactChanged || (releasing.length > 0 && floor >= state.contact.version);
  next.contact = { ...contactCand, version: needsBump ? nextVersion(state.contact.version, now, floor) : state.contact.version };
  const contactEvent = contactChanged ? makeEvent(next.userId, state.contact, next.contact, applied.offlineReason) : null;
  for (const [viewer, freeze] of releasing) {
    delete next.blockFreezes[viewer];
    viewers[viewer] = { cls: 'contact', event: makeEvent(next.userId, freeze.view, next.contact, 'DISCONNECTED') };
  }

  if (relation && (command.kind === 'setContact' || command.kind === 'setBlocks' || command.kind === 'setBlockedBy') && applied.relationChanged) {
    applyRelationViews(state, next, command, relation, now, viewers);
  }

  const relationChanged = applied.relationWrite ? [applied.relationWrite.other] : [];
  const hasEvents = selfEvent !== null || contactEvent !== null || Object.keys(viewers).length > 0;
  const stateChanged = applied.stateTouched || hasEvents || JSON.stringify(next) !== JSON.stringify(state);
  let message: PresenceMessage | null = null;
  if (hasEvents || relationChanged.length > 0) {
    next.seq = state.seq + 1;
    message = { userId: next.userId, inc: next.inc, seq: next.seq, at: now, self: selfEvent, contact: contactEvent, viewers, relationChanged };
  }
  return {
    state: next,
    message,
    relationWrite: applied.relationWrite,
    removedDevices: removed,
    keptUntil: applied.keptUntil,
    relationChanged: applied.relationChanged,
    stateChanged: stateChanged || message !== null,
  };
}

/** What the other user of a relation command sees before and after it. */
function applyRelationViews(
  before: UserState,
  next: UserState,
  command: Extract<PresenceCommand, { kind: 'setContact' | 'setBlocks' | 'setBlockedBy' }>,
  relation: Relation,
  now: number,
  viewers: Record<string, ViewerChange>,
): void {
  const other = command.other;
  if (other === next.userId) return;
  const after: Relation = { ...relation };
  if (command.kind === 'setContact') after.contact = command.contact;
  if (command.kind === 'setBlocks') after.blocks = command.blocks;
  if (command.kind === 'setBlockedBy') after.blockedBy = command.blockedBy;

  // Maintain the freeze for `other`: it exists while `other` is a contact that this user
  // blocks, and lingers after an unblock until the user is visibly online again.
  const existing: BlockFreeze | undefined = next.blockFreezes[other];
  if (after.contact && after.blocks) {
    if (existing) existing.blocked = true;
    else {
      const seen = classify(before, other, relation) === 'frozen' ? before.blockFreezes[other].view : next.contact;
      next.blockFreezes[other] = { view: freezeFrom(seen, now), blocked: true };
    }
  } else if (!after.contact) {
    delete next.blockFreezes[other];
  } else if (existing && !after.blocks) {
    existing.blocked = false;
    if (next.contact.status !== 'OFFLINE') {
      // Unblocked while visibly online: the viewer may see the user again right away.
      delete next.blockFreezes[other];
      if (next.contact.version <= existing.view.version) next.contact = { ...next.contact, version: nextVersion(next.contact.version, now, existing.view.version) };
    }
  }

  const beforeCls = classify(before, other, relation);
  const afterCls = classify(next, other, after);
  const beforeView = beforeCls === 'frozen' ? before.blockFreezes[other].view : beforeCls === 'contact' ? before.contact : null;
  const afterView = afterCls === 'frozen' ? next.blockFreezes[other].view : afterCls === 'contact' ? next.contact : null;

  if (beforeView === null && afterView === null) {
    viewers[other] = { cls: afterCls, event: null };
  } else if (beforeView === null && afterView !== null) {
    viewers[other] = { cls: afterCls, event: { view: toView(next.userId, afterView), reason: 'CONTACT_ADDED', previousStatus: 'OFFLINE' } };
  } else if (beforeView !== null && afterView === null) {
    viewers[other] = { cls: 'stranger', event: { view: strangerView(next.userId), reason: 'CONTACT_REMOVED', previousStatus: beforeView.status } };
  } else if (beforeView !== null && afterView !== null) {
    const changed = afterView.version !== beforeView.version;
    viewers[other] = { cls: afterCls, event: changed ? makeEvent(next.userId, beforeView, afterView, 'DISCONNECTED') : null };
  }
}
