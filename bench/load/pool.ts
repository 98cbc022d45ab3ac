/**
 * The orchestrator's handle on the load workers: forks them, sends typed requests and
 * matches replies by sequence number. Workers are child processes (not threads) so the
 * generator can use every core without sharing an event loop with the orchestrator.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { WorkerReply, WorkerRequest, WorkerResults } from './protocol';

interface Pending {
  resolve: (value: WorkerResults[WorkerRequest['kind']]) => void;
  reject: (error: Error) => void;
}

/** One forked worker process. */
class WorkerHandle {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  readonly ready: Promise<void>;

  constructor(readonly index: number, readonly child: ChildProcess) {
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load worker ${index} did not start within 30 s`)), 30_000);
      child.on('message', (message: unknown) => {
        const record = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
        if (record.hello === true) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const reply = message as WorkerReply;
        const waiting = this.pending.get(reply.seq);
        if (waiting === undefined) return;
        this.pending.delete(reply.seq);
        if (reply.ok) waiting.resolve(reply.result);
        else waiting.reject(new Error(`load worker ${index}: ${reply.error}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        const error = new Error(`load worker ${index} exited (code ${String(code)}, signal ${String(signal)})`);
        reject(error);
        for (const waiting of this.pending.values()) waiting.reject(error);
        this.pending.clear();
      });
    });
  }

  /** Sends one request and resolves with the worker's typed reply. */
  call<K extends WorkerRequest['kind']>(request: Extract<WorkerRequest, { kind: K }>): Promise<WorkerResults[K]> {
    this.seq += 1;
    const seq = this.seq;
    return new Promise<WorkerResults[K]>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as Pending['resolve'], reject });
      this.child.send({ seq, request });
    });
  }
}

/** A fixed set of load workers. */
export class WorkerPool {
  private constructor(private readonly workers: WorkerHandle[]) {}

  /** Forks `count` workers (TypeScript via ts-node, transpile only) and waits until each says hello. */
  static async start(count: number): Promise<WorkerPool> {
    const script = path.join(__dirname, 'worker.ts');
    const workers = Array.from({ length: count }, (_, index) => {
      const child = fork(script, [], {
        execArgv: ['-r', 'ts-node/register/transpile-only'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
      });
      return new WorkerHandle(index, child);
    });
    await Promise.all(workers.map((w) => w.ready));
    return new WorkerPool(workers);
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /** PIDs of the worker processes. */
  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? -1);
  }

  /** Sends a request to worker `index`. */
  call<K extends WorkerRequest['kind']>(index: number, request: Extract<WorkerRequest, { kind: K }>): Promise<WorkerResults[K]> {
    const worker = this.workers[index];
    if (worker === undefined) throw new Error(`no load worker ${index}`);
    return worker.call(request);
  }

  /** Sends the same request to every worker and resolves with all replies, in worker order. */
  broadcast<K extends WorkerRequest['kind']>(request: Extract<WorkerRequest, { kind: K }>): Promise<Array<WorkerResults[K]>> {
    return Promise.all(this.workers.map((w) => w.call(request)));
  }

  /** Deals `items` round-robin into one share per worker (sizes differ by at most one). */
  split<T>(items: readonly T[]): T[][] {
    const shares: T[][] = this.workers.map(() => []);
    items.forEach((item, i) => shares[i % this.workers.length]?.push(item));
    return shares;
  }

  /** Asks every worker to exit and kills any that has not after 3 s (by PID, nothing broader). */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => {
              w.child.kill('SIGKILL');
              resolve();
            }, 3_000);
            w.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.child.disconnect();
          }),
      ),
    );
  }
}
