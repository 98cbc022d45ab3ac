/** Monaco's hook for creating its language workers (see monaco-editor's defaultWorkerFactory). */
interface MonacoEnvironment {
  getWorker(workerId: string, label: string): Worker;
}

/**
 * File names of the worker bundles that scripts/build-graphiql.mjs writes next to the main
 * bundle, in `workers/`. Keep the two lists in step.
 */
const WORKER_FILES: Readonly<Record<string, string>> = {
  graphql: 'graphql.worker.js',
  json: 'json.worker.js',
};
const EDITOR_WORKER_FILE = 'editor.worker.js';

/**
 * Points Monaco at the worker bundles served beside this script. It must run before the first
 * editor mounts. graphiql 5's own `setup-workers/*` entries either load workers from esm.sh or
 * rely on a Vite/webpack worker loader; neither works offline with esbuild, so the page supplies
 * its own. URLs are resolved against the main bundle, so the page works under any path prefix.
 */
export function installMonacoWorkers(bundleUrl: string): void {
  const environment: MonacoEnvironment = {
    getWorker(_workerId, label) {
      const file = WORKER_FILES[label] ?? EDITOR_WORKER_FILE;
      return new Worker(new URL(`workers/${file}`, bundleUrl), { name: `monaco-${label}` });
    },
  };
  (globalThis as { MonacoEnvironment?: MonacoEnvironment }).MonacoEnvironment = environment;
}
