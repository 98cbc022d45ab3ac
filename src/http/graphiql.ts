import express, { type Express, type Request, type Response } from 'express';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** How `/graphiql` should present itself. */
export interface GraphiqlOptions {
  /**
   * True when the server runs for development (not `NODE_ENV=production`): the headers editor
   * then starts with an Authorization line to fill in with `npm run token -- alice`.
   */
  development: boolean;
  /** Where the bundle lives; defaults to the project's `static/graphiql`. Tests point it elsewhere. */
  bundleDir?: string;
}

/**
 * What the headers editor starts with in development. Production starts empty: `npm run token`
 * is a development tool there, and real tokens come from the application's own sign-in.
 */
const DEVELOPMENT_HEADERS = JSON.stringify({ Authorization: 'Bearer <paste the output of: npm run token -- alice>' }, null, 2);

/**
 * The page loads only its own bundle and talks only to this server. `ws:`/`wss:` are listed
 * because older browsers do not count a same-host socket as 'self'; inline styles are allowed
 * because Monaco injects its theme as <style> elements at run time.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "worker-src 'self'",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The folder scripts/build-graphiql.mjs writes. This module runs either as
 * `src/http/graphiql.ts` (ts-node, ts-jest) or as `dist/src/http/graphiql.js` (after tsc), so
 * the project root is two or three levels up; the file's own extension says which.
 */
function defaultBundleDir(): string {
  const levelsUp = __filename.endsWith('.ts') ? ['..', '..'] : ['..', '..', '..'];
  return path.resolve(__dirname, ...levelsUp, 'static', 'graphiql');
}

/**
 * Serves GraphiQL from the project's own bundle, so it works without internet access:
 * `GET /graphiql` answers the page (with the default headers for `options.development`) and
 * `GET /graphiql/assets/…` its scripts, styles, fonts and Monaco workers.
 *
 * The bundle is read on each page request rather than at mount time, so a server started before
 * `npm run build` serves the page as soon as the bundle exists; until then `/graphiql` answers
 * 503 with a message saying to run `npm run build`.
 */
export function mountGraphiql(app: Express, options: GraphiqlOptions): void {
  const bundleDir = options.bundleDir ?? defaultBundleDir();
  const indexFile = path.join(bundleDir, 'index.html');
  const configScript = `<script id="graphiql-config" type="application/json">${jsonForScriptTag({
    defaultHeaders: options.development ? DEVELOPMENT_HEADERS : '',
  })}</script>`;

  app.get('/graphiql', async (_req: Request, res: Response) => {
    let html: string;
    try {
      html = await readFile(indexFile, 'utf8');
    } catch (error) {
      if (!isFileNotFound(error)) throw error;
      res
        .status(503)
        .type('text/plain')
        .send('GraphiQL is not built (static/graphiql/index.html is missing). Run `npm run build`, which runs scripts/build-graphiql.mjs, then reload.\n');
      return;
    }
    res
      .status(200)
      .set({
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'Cache-Control': 'no-cache',
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
      })
      .type('html')
      .send(html.replace('</head>', `  ${configScript}\n  </head>`));
  });

  // Asset names carry no hash (the build is deterministic), so browsers revalidate by ETag.
  app.use(
    '/graphiql/assets',
    express.static(path.join(bundleDir, 'assets'), {
      index: false,
      maxAge: 0,
      setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
    }),
  );
}

/**
 * A small page for `GET /` in development: what this server is and where to try it
 * (GraphiQL, health, readiness, metrics), with the command that mints a token.
 */
export function landingPageHtml(): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Presence API</title>
    <style>
      body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1f24; }
      code { background: #f0f2f4; padding: 0.1rem 0.3rem; border-radius: 4px; }
    </style>
  </head>
  <body>
    <h1>Presence API</h1>
    <p>GraphQL over <code>POST /graphql</code> and, for subscriptions, graphql-ws on <code>/graphql</code>.</p>
    <p><a href="/graphiql">Open GraphiQL</a>, then put a token in its Headers tab: <code>npm run token -- alice</code>.</p>
    <ul>
      <li><a href="/healthz">/healthz</a>: the process is alive</li>
      <li><a href="/readyz">/readyz</a>: ready to serve (Redis reachable when configured)</li>
      <li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
    </ul>
  </body>
</html>
`;
}

/** JSON that cannot end the surrounding <script> element early, whatever the strings hold. */
function jsonForScriptTag(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
}

function isFileNotFound(error: unknown): boolean {
  // Duck-typed: under jest, fs errors come from another realm and fail `instanceof Error`.
  return typeof error === 'object' && error !== null && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR');
}
