/** Renders the figures as a terminal table and as Markdown (for the README). */
import type { BenchResults, FigureRow } from './results';

function formatNumber(value: number | null, unit: string): string {
  if (value === null) return 'n/a';
  if (unit === 'cmd' || unit === 'trips') return value.toFixed(2);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatRatio(ratio: number | null): string {
  return ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`;
}

function formatMet(met: boolean | null): string {
  if (met === null) return '';
  return met ? 'met' : 'MISSED';
}

function cells(row: FigureRow): string[] {
  return [
    `${row.figure} (${row.unit})`,
    formatNumber(row.service, row.unit),
    formatNumber(row.baseline, row.unit),
    formatRatio(row.ratio),
    row.target,
    formatMet(row.met),
  ];
}

const HEADER = ['Figure', 'Service', 'Baseline', 'Ratio', 'Target', 'Met?'];

/** A fixed-width table for the terminal, notes listed below it. */
export function renderTerminalTable(results: BenchResults): string {
  const rows = results.figures.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]): string =>
    values.map((v, i) => (i === 0 || i === 4 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join(' | ');
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  const notes = results.figures
    .map((row, i) => (row.note ? `  [${i + 1}] ${row.note}` : ''))
    .filter(Boolean);
  const m = results.meta;
  return [
    `presence bench: backend ${m.backend}, ${m.subscribers} subscribers x 20 contacts, ${m.machine.cores} cores ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB, Node ${m.machine.node}, redis ${m.machine.redis}, commit ${m.machine.gitCommit}`,
    line(HEADER),
    rule,
    ...rows.map(line),
    ...(notes.length > 0 ? ['notes (by row):', ...notes] : []),
  ].join('\n');
}

/** The same table in Markdown, with the machine line above it. */
export function renderMarkdownTable(results: BenchResults): string {
  const m = results.meta;
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    `Run ${m.startedAt.slice(0, 16).replace('T', ' ')} UTC, backend **${m.backend}**, ${m.subscribers} subscribers x 20 contacts, ` +
      `${m.machine.cores} x ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB, ${m.machine.os}, Node ${m.machine.node}, redis-server ${m.machine.redis}, commit ${m.machine.gitCommit}, ${Math.round(m.durationSeconds)} s.`,
    '',
    `| ${HEADER.join(' | ')} | Note |`,
    `|${HEADER.map(() => '---').join('|')}|---|`,
    ...results.figures.map((row) => `| ${cells(row).map(escape).join(' | ')} | ${escape(row.note)} |`),
  ];
  return lines.join('\n');
}
