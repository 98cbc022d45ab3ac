/**
 * `npx ts-node --transpile-only bench/tools/promoted.ts PORT [SECONDS] [--all | --live]`
 *
 * What a running service allocates that lives long enough to be collected only by a full
 * (mark-compact) GC: a sampling heap profile through the inspector on PORT (the bench starts
 * each target with `--inspect=127.0.0.1:<port>`; `ps` shows it) with
 * `includeObjectsCollectedByMajorGC`, summed by allocating function, largest first. Objects
 * that die young are left out, so this names what promotes into the old generation (and
 * what is retained). With `--all`, objects collected by minor GCs are counted too: then it
 * is everything allocated, what sets how often scavenges run. With `--live`, only what is
 * still alive when sampling stops (sampled every 1 KiB): over a window of a second or two
 * that is mostly the young generation's live set, what each scavenge has to copy. Run it
 * while a fixed-rate bench step runs.
 */
import { sampleHeapAllocations } from '../infra/inspector';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

async function main(): Promise<void> {
  const all = process.argv.includes('--all');
  const live = process.argv.includes('--live');
  const [portArg, secondsArg] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const port = Number(portArg);
  const seconds = Number(secondsArg ?? '10');
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: promoted.ts PORT [SECONDS] [--all | --live]');
  const head = (await sampleHeapAllocations(port, seconds * 1000, live ? { includeMajor: false, interval: 1024 } : { includeYoung: all })) as ProfileNode;
  const bySite = new Map<string, number>();
  const byStack = new Map<string, number>();
  const walk = (node: ProfileNode, stack: string[]): void => {
    const frame = node.callFrame;
    const site = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${frame.lineNumber + 1}`;
    const path = [...stack, site];
    if (node.selfSize > 0) {
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      const key = path.slice(-4).join(' < ');
      byStack.set(key, (byStack.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, path);
  };
  walk(head, []);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  console.log(`sampled ${(total / 1e6).toFixed(1)} MB in ${seconds} s ${live ? 'still alive at the end' : all ? 'allocated' : 'that a minor GC did not collect'}`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(bytes / 1e6).toFixed(2).padStart(7)} MB  ${site}`);
  console.log('\nby the last four frames:');
  for (const [stack, bytes] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(bytes / 1e6).toFixed(2).padStart(7)} MB  ${stack}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
