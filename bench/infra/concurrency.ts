/** Small async helpers shared by the orchestrator and the workers. */

/**
 * Runs `task` over `items` with at most `limit` in flight, in order of start.
 * Resolves when every task has settled; a task's rejection is its own business (catch inside).
 */
export async function forEachWithLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await task(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` every `intervalMs` until it returns true or `timeoutMs` passes.
 * Returns whether the condition was met (never throws on timeout: callers report it).
 */
export async function waitUntil(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Keeps the first `limit` distinct error messages, for reports that stay readable. */
export class ErrorSample {
  private readonly messages: string[] = [];
  private total = 0;

  constructor(private readonly limit = 5) {}

  /** Records one error (only its message is kept). */
  add(error: unknown): void {
    this.total += 1;
    const message = error instanceof Error ? error.message : String(error);
    if (this.messages.length < this.limit && !this.messages.includes(message)) this.messages.push(message);
  }

  /** How many errors were recorded in all. */
  get count(): number {
    return this.total;
  }

  /** The kept messages, then forgets them. */
  drain(): string[] {
    const kept = this.messages.splice(0);
    this.total = 0;
    return kept;
  }
}
