/** The identity cache that replaced per-event WeakMaps in the fan-out path. */
import { RecentByIdentity } from '../../src/realtime/recent';

describe('RecentByIdentity', () => {
  it('finds a value by the identity of its key, not by equal contents', () => {
    const cache = new RecentByIdentity<object, string>(2);
    const key = { id: 1 };
    cache.set(key, 'first');
    expect(cache.get(key)).toBe('first');
    expect(cache.get({ id: 1 })).toBeUndefined();
  });

  it('keeps only the last `slots` keys, forgetting the oldest first', () => {
    const cache = new RecentByIdentity<object, number>(3);
    const keys = [{}, {}, {}, {}];
    keys.forEach((key, i) => cache.set(key, i));
    expect(cache.get(keys[0] as object)).toBeUndefined();
    expect(keys.slice(1).map((key) => cache.get(key))).toEqual([1, 2, 3]);
  });
});
