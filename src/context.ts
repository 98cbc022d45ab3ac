/**
 * Per-request (HTTP) or per-operation (graphql-ws) context: who is asking and that
 * request's own DataLoader, never shared between users or requests.
 */
import DataLoader from 'dataloader';
import { Viewer, extractToken, verifyToken } from './auth/token';
import { UnauthenticatedError } from './errors';
import { PresenceView } from './presence/presence.model';
import { PresenceService } from './presence/presence.service';
import type { Fanout } from './realtime/fanout';
import type { FrameSink } from './realtime/shared-execution';

export interface Context {
  /** Null when no valid token came; `viewerOrThrow` turns that into UNAUTHENTICATED. */
  viewer: Viewer | null;
  authError: UnauthenticatedError | null;
  presenceLoader: DataLoader<string, PresenceView> | null;
  service: PresenceService;
  /** The node's fan-out, for subscriptions. */
  fanout?: Fanout;
  /** graphql-ws only: where this operation's event frames go. */
  frameSink?: FrameSink;
}

/** Builds a context from a raw Authorization value (header or connectionParams). */
export async function buildContext(service: PresenceService, secret: string, authorization: unknown): Promise<Context> {
  const token = extractToken(authorization);
  let viewer: Viewer | null = null;
  let authError: UnauthenticatedError | null = null;
  try {
    viewer = await verifyToken(token, secret);
  } catch (error) {
    authError = error instanceof UnauthenticatedError ? error : new UnauthenticatedError();
  }
  return contextFor(service, viewer, authError);
}

/**
 * A class rather than an object literal with a getter: one hidden class for every
 * context, so a node holding thousands of subscription contexts keeps them compact.
 */
class OperationContext implements Context {
  private loader: DataLoader<string, PresenceView> | null = null;

  constructor(
    readonly service: PresenceService,
    readonly viewer: Viewer | null,
    readonly authError: UnauthenticatedError | null,
    readonly fanout: Fanout | undefined,
    readonly frameSink: FrameSink | undefined,
  ) {}

  /** Created on first use: a long-lived subscription context never needs one. */
  get presenceLoader(): DataLoader<string, PresenceView> | null {
    const viewer = this.viewer;
    if (!this.loader && viewer) this.loader = new DataLoader<string, PresenceView>(async (ids) => (await this.service.views(viewer, ids)).map((s) => s.view));
    return this.loader;
  }
}

export function contextFor(
  service: PresenceService,
  viewer: Viewer | null,
  authError: UnauthenticatedError | null = null,
  fanout?: Fanout,
  frameSink?: FrameSink,
): Context {
  return new OperationContext(service, viewer, authError, fanout, frameSink);
}

export function viewerOrThrow(ctx: Context): Viewer {
  if (!ctx.viewer) throw ctx.authError ?? new UnauthenticatedError();
  return ctx.viewer;
}
