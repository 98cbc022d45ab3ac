/**
 * `npx ts-node --transpile-only bench/tools/calls.ts PORT [SECONDS] [PER]`
 *
 * How often each function of a running target runs (V8 precise coverage with call counts,
 * through the inspector on PORT), most called first, optionally divided by PER (the number
 * of mutations in the window, say) to read calls per change. Run it during a fixed-rate
 * bench step; counting slows the target, so the step's latency means nothing meanwhile.
 */
import { countCalls } from '../infra/inspector';

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const seconds = Number(process.argv[3] ?? '5');
  const per = Number(process.argv[4] ?? '1');
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: calls.ts PORT [SECONDS] [PER]');
  const calls = await countCalls(port, seconds * 1000);
  const shown = calls
    .filter((fn) => fn.count > 0)
    .sort((a, b) => b.count - a.count)
    .slice(0, 80);
  for (const fn of shown) {
    const where = fn.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
    console.log(`${(fn.count / per).toFixed(2).padStart(10)}  ${fn.functionName || '(anonymous)'}  ${where}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
