/**
 * Another Node process's heap, through its inspector (the target is started with
 * `--inspect=127.0.0.1:<port>`): a full garbage collection, so that RSS taken after it on
 * both sides is retained memory rather than whatever the heap happened to hold; its
 * `process.memoryUsage()`; and, for finding out what that memory is, heap snapshots
 * (`--heap-snapshots`) and sampled allocations (bench/tools/promoted.ts).
 */
import fs from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';

function inspectorSocketUrl(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/json/list', timeout: 3_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          const targets = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ webSocketDebuggerUrl?: unknown }>;
          const url = targets[0]?.webSocketDebuggerUrl;
          if (typeof url === 'string') resolve(url);
          else reject(new Error(`no inspector target on port ${port}`));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`inspector on port ${port} did not answer`)));
    request.on('error', reject);
  });
}

/** One Chrome DevTools Protocol session: numbered calls and their replies, and event listeners. */
class InspectorSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<string, (params: unknown) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message?: string } };
      if (message.method !== undefined) {
        this.listeners.get(message.method)?.(message.params);
        return;
      }
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (waiter === undefined || message.id === undefined) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message ?? 'inspector error'));
      else waiter.resolve(message.result);
    });
    socket.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('inspector closed'));
      this.pending.clear();
    });
  }

  static async open(port: number): Promise<InspectorSession> {
    const socket = new WebSocket(await inspectorSocketUrl(port), { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new InspectorSession(socket);
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (result) => (clearTimeout(timer), resolve(result)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  on(event: string, listener: (params: unknown) => void): void {
    this.listeners.set(event, listener);
  }

  close(): void {
    this.socket.close();
  }
}

async function withInspector<T>(port: number, use: (session: InspectorSession) => Promise<T>): Promise<T> {
  const session = await InspectorSession.open(port);
  try {
    return await use(session);
  } finally {
    session.close();
  }
}

/**
 * Runs `HeapProfiler.collectGarbage` `times` times in the process whose inspector listens on
 * `port`, then detaches. Resolves false (and the caller measures without it) on any failure.
 */
export async function collectGarbage(port: number, times = 2): Promise<boolean> {
  try {
    await withInspector(port, async (session) => {
      for (let i = 0; i < times; i += 1) await session.call('HeapProfiler.collectGarbage');
    });
    return true;
  } catch {
    return false;
  }
}

/** Writes a heap snapshot (`.heapsnapshot`, for DevTools or `npm run heap-diff`) of the process to `file`. */
export async function writeHeapSnapshot(port: number, file: string): Promise<void> {
  const out = fs.createWriteStream(file);
  try {
    await withInspector(port, async (session) => {
      session.on('HeapProfiler.addHeapSnapshotChunk', (params) => out.write((params as { chunk: string }).chunk));
      await session.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, 300_000);
    });
  } finally {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}

/** `process.memoryUsage()` of the process, through its inspector. */
export async function memoryUsage(port: number): Promise<NodeJS.MemoryUsage> {
  return withInspector(port, async (session) => {
    const reply = (await session.call('Runtime.evaluate', { expression: 'process.memoryUsage()', returnByValue: true })) as {
      result?: { value?: NodeJS.MemoryUsage };
    };
    if (reply.result?.value === undefined) throw new Error('process.memoryUsage() gave no value');
    return reply.result.value;
  });
}

/** Which sampled allocations a heap sampling keeps: by default those a minor GC did not collect. */
export interface SamplingOptions {
  /** Keep objects that died young (then it is everything allocated). */
  includeYoung?: boolean;
  /** Keep objects a mark-compact collected (default true); false with includeYoung false: only what is alive at the end. */
  includeMajor?: boolean;
  /** Bytes between samples (default 16 KiB). */
  interval?: number;
}

/**
 * A sampling heap profile of `ms` (`HeapProfiler.SamplingHeapProfile.head`). By default it
 * keeps samples of objects that only a full GC collected, as well as those still alive;
 * `options` widens that to every allocation or narrows it to what is alive at the end.
 */
export async function sampleHeapAllocations(port: number, ms: number, options: SamplingOptions = {}): Promise<unknown> {
  return withInspector(port, async (session) => {
    await session.call('HeapProfiler.startSampling', {
      samplingInterval: options.interval ?? 16_384,
      includeObjectsCollectedByMajorGC: options.includeMajor ?? true,
      includeObjectsCollectedByMinorGC: options.includeYoung ?? false,
    });
    await new Promise((resolve) => setTimeout(resolve, ms));
    const reply = (await session.call('HeapProfiler.stopSampling', {}, 120_000)) as { profile: { head: unknown } };
    return reply.profile.head;
  });
}

/** One function's calls in a precise-coverage window. */
export interface FunctionCalls {
  url: string;
  functionName: string;
  count: number;
}

/**
 * How many times each function ran in `ms` (V8 precise coverage with call counts; the
 * counting makes the target slower while it is on, so read counts, not times).
 */
export async function countCalls(port: number, ms: number): Promise<FunctionCalls[]> {
  return withInspector(port, async (session) => {
    await session.call('Profiler.enable', {});
    await session.call('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
    // The first take resets the counters: the window starts here.
    await session.call('Profiler.takePreciseCoverage', {}, 60_000);
    await new Promise((resolve) => setTimeout(resolve, ms));
    const reply = (await session.call('Profiler.takePreciseCoverage', {}, 60_000)) as {
      result: Array<{ url: string; functions: Array<{ functionName: string; ranges: Array<{ count: number }> }> }>;
    };
    await session.call('Profiler.stopPreciseCoverage', {});
    return reply.result.flatMap((script) =>
      script.functions.map((fn) => ({ url: script.url, functionName: fn.functionName, count: fn.ranges[0]?.count ?? 0 })),
    );
  });
}
