/**
 * graphql-ws's `subscribe` message, handled here instead of in `makeServer`'s message
 * handler. That handler is one async function per message which, for a subscription, stays
 * suspended in a `for await` for as long as the subscription runs, keeping its frame, the
 * message text, the parsed message and three `emit` closures: ~1.5 KB of heap per idle
 * subscriber, measured with heap snapshots. Here a running subscription is one small object:
 * this server's frame pumps tell it when they stop (StopWatcher); any other iterator is
 * pulled one `next()` at a time.
 *
 * The steps, messages and close codes are graphql-ws 6.4's (`makeServer`, case Subscribe),
 * with one requirement on the options: `onSubscribe` returns execution arguments or errors
 * (this server's always does). Everything else (connection_init, ping and pong, complete,
 * invalid messages, the close) stays with `makeServer`, which shares `ctx.subscriptions`
 * with this code: its `complete` handling and its close call `return()` on what runs here.
 */
import { ExecutionArgs, ExecutionResult, GraphQLError, execute as graphqlExecute, getOperationAST, subscribe as graphqlSubscribe } from 'graphql';
import { CloseCode, Context, MessageType, ServerOptions, SubscribeMessage, SubscribePayload, areGraphQLErrors, stringifyMessage } from 'graphql-ws';
import { StopWatcher, WATCH_STOP, isStopWatchable } from './shared-execution';

type Options<E> = ServerOptions<Record<string, unknown> | undefined, E>;
type SocketContext<E> = Context<Record<string, unknown> | undefined, E>;

/** What the handler needs of the socket. */
export interface SubscribeSocket {
  send(data: string): void;
  close(code: number, reason: string): void;
  /** A hook threw after the subscribe message was handled (the socket closes: 1011). */
  failed(error: unknown): void;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof Object(value)[Symbol.asyncIterator] === 'function';
}

/** One operation of one socket: the messages graphql-ws's `emit` sends, with the same hooks. */
class Operation<E> {
  constructor(
    protected readonly options: Options<E>,
    protected readonly socket: SubscribeSocket,
    protected readonly ctx: SocketContext<E>,
    readonly id: string,
    protected readonly payload: SubscribePayload,
  ) {}

  async next(result: ExecutionResult, args: ExecutionArgs): Promise<void> {
    const { errors, ...withoutErrors } = result;
    const replaced = await this.options.onNext?.(this.ctx, this.id, this.payload, args, result);
    const payload = replaced || { ...withoutErrors, ...(errors ? { errors: errors.map((e) => e.toJSON()) } : {}) };
    this.socket.send(stringifyMessage({ id: this.id, type: MessageType.Next, payload }));
  }

  async error(errors: readonly GraphQLError[]): Promise<void> {
    const replaced = await this.options.onError?.(this.ctx, this.id, this.payload, errors);
    this.socket.send(stringifyMessage({ id: this.id, type: MessageType.Error, payload: replaced || errors.map((e) => e.toJSON()) }));
  }

  async complete(notifyClient: boolean): Promise<void> {
    await this.options.onComplete?.(this.ctx, this.id, this.payload);
    if (notifyClient) this.socket.send(stringifyMessage({ id: this.id, type: MessageType.Complete }));
  }
}

/**
 * A subscription whose events are being delivered: it pulls its iterator one `next()` at a
 * time and completes as graphql-ws would. This server's subscriptions write their events
 * straight to the socket and only say when they stop (StopWatcher): no `next()` at all.
 */
class RunningSubscription<E> extends Operation<E> implements StopWatcher {
  /** What `ctx.subscriptions` holds for this operation (an async iterable). */
  private entry: AsyncIterable<ExecutionResult> | null = null;
  private iterator: AsyncIterator<ExecutionResult> | null = null;
  private args: ExecutionArgs | null = null;

  start(iterable: AsyncIterable<ExecutionResult>, args: ExecutionArgs): void {
    this.entry = iterable;
    this.iterator = iterable[Symbol.asyncIterator]();
    this.args = args;
    if (isStopWatchable(this.iterator)) this.iterator[WATCH_STOP](this);
    else this.pull();
  }

  stopped(): void {
    void this.finish();
  }

  private pull(): void {
    (this.iterator as AsyncIterator<ExecutionResult>).next().then(
      (step) => (step.done ? this.finish() : this.deliver(step.value)),
      (error: unknown) => this.fail(error),
    );
  }

  private deliver(result: ExecutionResult): void {
    this.next(result, this.args as ExecutionArgs).then(
      () => this.pull(),
      (error: unknown) => {
        // As a `for await` does when its body throws: the iterator is told to stop.
        void Promise.resolve(this.iterator?.return?.()).catch(() => undefined);
        this.fail(error);
      },
    );
  }

  /** The iterator (or sending an event) failed: an error message, then completion without notice. */
  private fail(reason: unknown): void {
    const original = reason instanceof Error ? reason : new Error(String(reason));
    this.error([new GraphQLError(original.message, { originalError: original })])
      .then(() => {
        this.unregister();
        return this.finish();
      })
      .catch((error: unknown) => this.socket.failed(error));
  }

  private finish(): Promise<void> {
    // Not when the client completed it, or the socket closed (makeServer emptied ctx.subscriptions).
    const notify = this.ctx.subscriptions[this.id] === this.entry;
    return this.complete(notify)
      .finally(() => this.unregister())
      .catch((error: unknown) => this.socket.failed(error));
  }

  /** Leaves `ctx.subscriptions`, unless the id has been taken by a newer operation since. */
  private unregister(): void {
    if (this.ctx.subscriptions[this.id] === this.entry) delete this.ctx.subscriptions[this.id];
  }
}

/**
 * Handles one parsed `subscribe` message of an acknowledged socket. Resolves once the
 * operation has answered (a query or mutation) or is running (a subscription).
 */
export async function handleSubscribe<E>(
  options: Options<E>,
  socket: SubscribeSocket,
  ctx: SocketContext<E>,
  message: SubscribeMessage,
): Promise<void> {
  const { id, payload } = message;
  if (id in ctx.subscriptions) return socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
  ctx.subscriptions[id] = null;
  const operation = new Operation(options, socket, ctx, id, payload);
  let running = false;
  try {
    // Called synchronously, as graphql-ws does: the hook sees the message in the turn it is read.
    const argsOrErrors = await options.onSubscribe?.(ctx, id, payload);
    if (!argsOrErrors) throw new Error('onSubscribe must return execution arguments or errors');
    if (areGraphQLErrors(argsOrErrors)) {
      if (id in ctx.subscriptions) await operation.error(argsOrErrors);
      return;
    }
    if (Array.isArray(argsOrErrors)) throw new Error('Invalid return value from onSubscribe hook, expected an array of GraphQLError objects');
    const args = argsOrErrors as ExecutionArgs;
    const ast = getOperationAST(args.document, args.operationName);
    if (!ast) {
      if (id in ctx.subscriptions) await operation.error([new GraphQLError('Unable to identify operation')]);
      return;
    }
    let result = ast.operation === 'subscription' ? await (options.subscribe ?? graphqlSubscribe)(args) : await (options.execute ?? graphqlExecute)(args);
    const replaced = await options.onOperation?.(ctx, id, payload, args, result);
    if (replaced) result = replaced;
    if (isAsyncIterable(result)) {
      if (!(id in ctx.subscriptions)) {
        // Completed by the client before it started.
        const stoppable = result as Partial<AsyncGenerator<ExecutionResult>>;
        if (typeof stoppable.return === 'function') void stoppable.return(undefined);
      } else {
        ctx.subscriptions[id] = result;
        running = true;
        new RunningSubscription(options, socket, ctx, id, payload).start(result, args);
        return;
      }
    } else if (id in ctx.subscriptions) {
      await operation.next(result, args);
    }
    await operation.complete(id in ctx.subscriptions);
  } finally {
    if (!running) delete ctx.subscriptions[id];
  }
}
