/**
 * The PNG chart: delivered events/s and p99 latency per load step, service vs baseline.
 * Drawn with Vega-Lite (compiled to Vega, rendered to SVG headless) and rasterized by resvg.
 */
import fs from 'node:fs';
import type { Spec as VegaSpec } from 'vega';
import type { BenchResults } from './results';

/**
 * The part of Vega-Lite's API used here. Its own typings only resolve under
 * `moduleResolution: node16`, which the project's tsconfig does not use.
 */
interface VegaLiteModule {
  compile(spec: VegaLiteSpec): { spec: VegaSpec };
}

/** A Vega-Lite specification (JSON), see https://vega.github.io/vega-lite/docs/spec.html. */
export type VegaLiteSpec = Record<string, unknown>;

/** Vega and Vega-Lite ship as ES modules only; a real dynamic import keeps them loadable from CommonJS. */
const importEsm = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

interface ChartPoint {
  target: string;
  offered: number;
  delivered: number;
  p99: number;
}

function chartPoints(results: BenchResults): ChartPoint[] {
  const points: ChartPoint[] = [];
  for (const target of [results.service, results.baseline]) {
    for (const step of target?.fanout?.steps ?? []) {
      if ((step.label !== 'step' && step.label !== 'refine') || !Number.isFinite(step.latency.p99Ms)) continue;
      points.push({
        target: target?.kind ?? '',
        offered: Math.round(step.offeredEventsPerSec),
        delivered: Math.round(step.deliveredEventsPerSec),
        p99: Math.max(0.1, step.latency.p99Ms),
      });
    }
  }
  return points;
}

/** Builds the Vega-Lite spec (exported for inspection and tests). */
export function chartSpec(results: BenchResults): VegaLiteSpec {
  const m = results.meta;
  const x = { field: 'offered', type: 'quantitative', title: 'offered events/s', scale: { type: 'log' } };
  const color = { field: 'target', type: 'nominal', title: null, scale: { domain: ['service', 'baseline'], range: ['#d62728', '#1f77b4'] } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Presence fan-out, backend ${m.backend}: ${m.subscribers} subscribers x 20 contacts`,
      subtitle: `${m.machine.cores} x ${m.machine.cpuModel}, Node ${m.machine.node}, ${m.startedAt.slice(0, 10)}, commit ${m.machine.gitCommit}`,
    },
    data: { values: chartPoints(results) },
    background: 'white',
    hconcat: [
      {
        width: 380,
        height: 280,
        title: 'Delivered events/s per step',
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'delivered', type: 'quantitative', title: 'delivered events/s' }, color },
      },
      {
        width: 380,
        height: 280,
        title: 'p99 latency per step (send to receipt)',
        layer: [
          {
            mark: { type: 'line', point: true },
            encoding: { x, y: { field: 'p99', type: 'quantitative', title: 'p99 ms (log)', scale: { type: 'log' } }, color },
          },
          {
            data: { values: [{ limit: 250 }] },
            mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
            encoding: { y: { field: 'limit', type: 'quantitative' } },
          },
        ],
      },
    ],
  };
}

/** Renders the chart to `file` as PNG. */
export async function writeChartPng(results: BenchResults, file: string): Promise<void> {
  const vegaLite = await importEsm<VegaLiteModule>('vega-lite');
  const vega = await importEsm<typeof import('vega')>('vega');
  const { Resvg } = await importEsm<typeof import('@resvg/resvg-js')>('@resvg/resvg-js');
  const compiled = vegaLite.compile(chartSpec(results)).spec;
  const svg = await new vega.View(vega.parse(compiled), { renderer: 'none' }).toSVG(2);
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' }).render().asPng();
  fs.writeFileSync(file, png);
}
