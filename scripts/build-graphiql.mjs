// Bundles GraphiQL (graphiql/main.tsx) into static/graphiql/ so /graphiql works offline.
//
//   static/graphiql/index.html                     the page; the server adds its config to <head>
//   static/graphiql/assets/graphiql.{js,css}       the app, GraphiQL and Monaco, with all CSS
//   static/graphiql/assets/workers/*.worker.js     Monaco's editor, JSON and GraphQL workers
//
// File names carry no hash and the folder is rebuilt from scratch, so the same sources give the
// same bytes; the server lets browsers revalidate by ETag instead of caching by name.
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(projectRoot, 'static', 'graphiql');
const assetsDir = join(outDir, 'assets');

/** Paths the page uses; src/http/graphiql.ts serves assets/ under /graphiql/assets/. */
const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Presence API · GraphiQL</title>
    <link rel="stylesheet" href="/graphiql/assets/graphiql.css" />
    <script type="module" src="/graphiql/assets/graphiql.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
  </body>
</html>
`;

/** @type {import('esbuild').BuildOptions} */
const common = {
  absWorkingDir: projectRoot,
  bundle: true,
  minify: true,
  target: 'es2022',
  platform: 'browser',
  logLevel: 'warning',
  // React and friends pick their production build from this, and it drops dev-only checks.
  define: { 'process.env.NODE_ENV': '"production"' },
};

const started = Date.now();
await rm(outDir, { recursive: true, force: true });
await mkdir(assetsDir, { recursive: true });

await Promise.all([
  build({
    ...common,
    entryPoints: { graphiql: 'graphiql/main.tsx' },
    outdir: assetsDir,
    format: 'esm',
    jsx: 'automatic',
    // Monaco's CSS references its codicon font; ship it as a file beside the CSS.
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file', '.png': 'file' },
    assetNames: '[name]-[hash]',
  }),
  build({
    ...common,
    // Classic (non-module) workers: every browser GraphiQL supports can start them.
    entryPoints: {
      'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
      'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
      'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
    },
    outdir: join(assetsDir, 'workers'),
    format: 'iife',
  }),
]);

await writeFile(join(outDir, 'index.html'), INDEX_HTML);
process.stdout.write(`GraphiQL bundle written to ${outDir} in ${Date.now() - started} ms\n`);
