/** Boils a V8 `.cpuprofile` (from `node --cpu-prof`) down to self time per function and per module. */
import fs from 'node:fs';
import path from 'node:path';
import type { ProfileEntry, ProfileSummary } from './results';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** `node_modules/<pkg>` (scoped or not), a repository-relative path, or the V8 pseudo-frame. */
function moduleOf(url: string, repoRoot: string): string {
  if (url === '') return '(native / V8)';
  const clean = url.replace(/^file:\/\//, '');
  const nodeModules = clean.lastIndexOf('node_modules/');
  if (nodeModules !== -1) {
    const parts = clean.slice(nodeModules + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? clean;
  }
  if (clean.startsWith('node:')) return clean.split('/').slice(0, 2).join('/');
  return path.relative(repoRoot, clean);
}

function top(map: Map<string, number>, totalMs: number, count: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, selfMs]) => ({ name, selfMs: Math.round(selfMs), percent: Math.round((selfMs / totalMs) * 1000) / 10 }));
}

/**
 * Reads the newest `.cpuprofile` in `dir` and sums sample time per function (self time) and
 * per module. `(idle)` is left out of the total, so percentages are of busy time.
 */
export function summarizeNewestProfile(dir: string, repoRoot: string, count = 15): ProfileSummary | null {
  if (!fs.existsSync(dir)) return null;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  const file = files[0];
  if (file === undefined) return null;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i += 1) {
    // timeDeltas[i+1] is the time until the next sample: the best estimate of sample i's duration.
    const ms = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    const id = samples[i] as number;
    selfMs.set(id, (selfMs.get(id) ?? 0) + ms);
  }
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of selfMs) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') continue;
    totalMs += ms;
    const module = frame.url === '' && frame.functionName.startsWith('(') ? frame.functionName : moduleOf(frame.url, repoRoot);
    const name = `${frame.functionName || '(anonymous)'} ${module}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
  }
  return {
    file: path.relative(repoRoot, file),
    totalMs: Math.round(totalMs),
    byFunction: top(byFunction, totalMs, count),
    byModule: top(byModule, totalMs, count),
  };
}
