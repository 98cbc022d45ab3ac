/**
 * The values computed for the last few key objects, matched by identity. It stands in for
 * a WeakMap whose keys live for one fan-out event: V8 records every young key put into an
 * old WeakMap in a malloc'd remembered set, and that churn (two entries per delivered
 * INITIAL event) left the allocator fragmented by several KiB per subscriber. Receivers of
 * one event are served in one synchronous loop, so a handful of slots finds them all; a
 * miss only costs computing the value again.
 */
export class RecentByIdentity<K extends object, V> {
  private readonly keys: Array<K | undefined>;
  private readonly values: Array<V | undefined>;
  private nextSlot = 0;

  constructor(slots: number) {
    this.keys = new Array<K | undefined>(slots).fill(undefined);
    this.values = new Array<V | undefined>(slots).fill(undefined);
  }

  get(key: K): V | undefined {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) return this.values[i];
    return undefined;
  }

  set(key: K, value: V): void {
    this.keys[this.nextSlot] = key;
    this.values[this.nextSlot] = value;
    this.nextSlot = (this.nextSlot + 1) % this.keys.length;
  }
}
