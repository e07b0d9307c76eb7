import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface Row {
  scenario: string;
  what: string;
  perSecond: number;
  notes: string;
}

export interface Ratio {
  target: string;
  measured: number;
  goal: number;
  /** 'min': measured must be at least the goal. */
  kind: 'min' | 'max';
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

/** The rows as a markdown table's body lines. */
export const rowLines = (rows: readonly Row[]) =>
  rows.map((r) => `| ${r.scenario} | ${r.what} | ${fmt(r.perSecond)} | ${r.notes} |`);

/** The targets as a markdown table's body lines, each marked met or not. */
export const ratioLines = (ratios: readonly Ratio[]) =>
  ratios.map(
    (r) =>
      `| ${r.target} | ${r.measured.toFixed(2)}× | ${r.kind === 'min' ? '≥' : '≤'} ${r.goal}× | ${(r.kind === 'min' ? r.measured >= r.goal : r.measured <= r.goal) ? 'yes' : '**no**'} |`,
  );

/** A horizontal bar chart of the rows' throughput, as a small standalone SVG. */
export function barChart(rows: Row[]): string {
  const width = 820;
  const barHeight = 22;
  const labelWidth = 330;
  const max = Math.max(...rows.map((r) => r.perSecond).filter(Number.isFinite), 1);
  const bars = rows.map((row, i) => {
    const y = 30 + i * (barHeight + 8);
    const length = Number.isFinite(row.perSecond) ? ((width - labelWidth - 90) * row.perSecond) / max : 0;
    const colour = row.scenario.startsWith('Flashline') ? '#d9480f' : '#868e96';
    return [
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" font-size="12">${escape(`${row.scenario}: ${row.what}`)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${colour}"/>`,
      `<text x="${labelWidth + length + 6}" y="${y + 15}" font-size="12">${fmt(row.perSecond)}/s</text>`,
    ].join('');
  });
  const height = 40 + rows.length * (barHeight + 8);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><text x="10" y="18" font-size="14" font-weight="bold">Decisions or requests per second (one run, same machine, same Redis)</text>${bars.join('')}</svg>\n`;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The line between the hand-written guide at the top of the report and the part each run writes anew. */
export const GENERATED_BELOW = '<!-- Everything below is written by npm run bench; edit above this line. -->';

/** What stands above the marker in the report today: kept as it is by every run. */
function handWritten(path: string): string {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const at = text.indexOf(GENERATED_BELOW);
  return at === -1 ? '' : text.slice(0, at);
}

export function writeReport(
  path: string,
  chartPath: string,
  run: { command: string; date: string; machine: string; rows: Row[]; ratios: Ratio[]; extra: string },
): void {
  writeFileSync(chartPath, barChart(run.rows));
  const lines = [
    GENERATED_BELOW,
    '',
    '## The latest run',
    '',
    `Every figure below comes from one run of \`${run.command}\` (${run.date}, ${run.machine}), all on the same`,
    'private redis-server, side by side, so that the ratios hold on a noisy shared machine. Nothing here is typed in:',
    'run the command again to reproduce (the figures move with the machine; the ratios are what to compare).',
    '',
    '![throughput chart](benchmarks.svg)',
    '',
    '| scenario | measured | per second | notes |',
    '|---|---|---|---|',
    ...rowLines(run.rows),
    '',
    '### Targets (ratios from this run)',
    '',
    '| target | measured | goal | met |',
    '|---|---|---|---|',
    ...ratioLines(run.ratios),
    '',
    run.extra,
    '',
  ];
  writeFileSync(path, handWritten(path) + lines.join('\n'));
}
