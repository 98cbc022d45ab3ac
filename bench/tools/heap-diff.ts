/**
 * `npx ts-node --transpile-only bench/tools/heap-diff.ts [--by-owner] BEFORE.heapsnapshot AFTER.heapsnapshot [N]`
 *
 * What grew between two V8 heap snapshots, grouped the way DevTools' summary groups them
 * (objects by constructor, closures by function name, the rest by node type), largest
 * growth first. With N (e.g. the subscribers connected in between) it also prints bytes and
 * objects per one of them. Self sizes only: the point is where per-connection bytes live.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

/**
 * Groups a snapshot's nodes. With `byOwner`, the key also names the first retainer and the
 * edge it holds the node by ("(array) <- FollowState.feed"), which tells whose arrays they are.
 */
function groups(file: string, byOwner: boolean): Map<string, Group> {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const meta = data.snapshot.meta;
  const fields = meta.node_fields;
  const typeNames = meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const edgeCountAt = fields.indexOf('edge_count');
  const keyOf = (i: number): string => {
    const type = typeNames[data.nodes[i + typeAt]];
    const name = data.strings[data.nodes[i + nameAt]];
    if (type === 'object' || type === 'native') return name;
    if (type === 'closure') return `closure ${name || '(anonymous)'}`;
    return type === 'array' || type === 'hidden' ? `(${type}) ${name}`.trim() : `(${type})`;
  };
  const owner = new Map<number, string>();
  if (byOwner) {
    const edgeWidth = meta.edge_fields.length;
    const edgeTypeAt = meta.edge_fields.indexOf('type');
    const edgeNameAt = meta.edge_fields.indexOf('name_or_index');
    const toAt = meta.edge_fields.indexOf('to_node');
    const edgeTypes = meta.edge_types[0];
    let edge = 0;
    for (let i = 0; i < data.nodes.length; i += width) {
      const count = data.nodes[i + edgeCountAt];
      for (let e = 0; e < count; e += 1, edge += edgeWidth) {
        const to = data.edges[edge + toAt];
        const edgeType = edgeTypes[data.edges[edge + edgeTypeAt]];
        if (owner.has(to) || edgeType === 'weak' || edgeType === 'shortcut') continue;
        const raw = data.edges[edge + edgeNameAt];
        const edgeName = edgeType === 'element' || edgeType === 'hidden' ? '[]' : data.strings[raw];
        owner.set(to, `${keyOf(i)}.${edgeName}`);
      }
    }
  }
  const result = new Map<string, Group>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const key = byOwner ? `${keyOf(i)} <- ${owner.get(i) ?? '?'}` : keyOf(i);
    const group = result.get(key) ?? { count: 0, bytes: 0 };
    group.count += 1;
    group.bytes += data.nodes[i + sizeAt];
    result.set(key, group);
  }
  return result;
}

function main(): void {
  const args = process.argv.slice(2);
  const byOwner = args.includes('--by-owner');
  const [beforeFile, afterFile, perRaw] = args.filter((arg) => arg !== '--by-owner');
  if (!beforeFile || !afterFile) throw new Error('usage: heap-diff.ts [--by-owner] BEFORE.heapsnapshot AFTER.heapsnapshot [N]');
  const per = perRaw === undefined ? 1 : Number(perRaw);
  const before = groups(beforeFile, byOwner);
  const after = groups(afterFile, byOwner);
  const rows = [...after.entries()]
    .map(([key, group]) => {
      const old = before.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: group.count - old.count, bytes: group.bytes - old.bytes };
    })
    .filter((row) => row.bytes !== 0 || row.count !== 0)
    .sort((a, b) => b.bytes - a.bytes);
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  console.log(`total growth ${(total / 1024).toFixed(1)} KiB${per !== 1 ? `, ${(total / per).toFixed(0)} B per 1 of ${per}` : ''}`);
  console.log(`${'bytes/N'.padStart(9)} ${'objs/N'.padStart(7)}  group`);
  for (const row of rows.slice(0, 60)) {
    console.log(`${(row.bytes / per).toFixed(1).padStart(9)} ${(row.count / per).toFixed(2).padStart(7)}  ${row.key.slice(0, 140)}`);
  }
}

main();
