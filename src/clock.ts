/** One injectable clock so expiry and versions can be tested without long sleeps. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
