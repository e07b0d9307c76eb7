// Turns the TAP output of the fault tests into the markdown table of docs/reliability.md:
//   npm test -- fault- redis- > /tmp/faults.tap; node scripts/reliability-table.mjs /tmp/faults.tap
import { readFileSync } from 'node:fs';

const lines = readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8').split('\n');
// Node's TAP reporter prints a test's diagnostics after its `ok` line: attach them to the last test seen.
const rows = [];
for (const line of lines) {
  const result = /^\s+(ok|not ok) \d+ - (.*)$/.exec(line);
  if (result) {
    rows.push({ name: result[2], passed: result[1] === 'ok', entries: [] });
    continue;
  }
  const last = rows.at(-1);
  const diagnostic = /^\s+# (report|violations) (\{.*?\})(?:;|$)(.*)/.exec(line);
  if (diagnostic && last)
    last.entries.push({ kind: diagnostic[1], data: JSON.parse(diagnostic[2]), extra: diagnostic[3].trim() });
  const note = /^\s+# ((?:while down|stale commits|refused).*)/.exec(line);
  if (note && last) last.entries.push({ kind: 'note', extra: note[1] });
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '');
console.log(
  '| scenario | result | requests | accepted | unknown | oversold | conservation | lost | stuck | duplicates | unexpected | time to terminal p50 / p99 / max (ms) | drained after heal (ms) | notes |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const row of rows.filter((r) => r.entries.length > 0)) {
  const report = row.entries.find((e) => e.kind === 'report')?.data;
  const violations = row.entries.find((e) => e.kind === 'violations')?.data;
  const notes = row.entries
    .map((e) => e.extra)
    .filter(Boolean)
    .join('; ');
  const status = row.passed ? 'pass' : 'FAIL';
  if (report) {
    const t = report.time_to_terminal_ms;
    console.log(
      `| ${row.name} | ${status} | ${fmt(report.requests)} | ${fmt(report.accepted)} | ${fmt(report.unknown)} | ${report.oversold} | ${report.conservation_errors} | ${report.lost} | ${report.stuck} | ${report.duplicates} | ${report.unexpected} | ${fmt(t.p50)} / ${fmt(t.p99)} / ${fmt(t.max)} | ${fmt(report.drained_in_ms)} | ${notes} |`,
    );
  } else {
    console.log(
      `| ${row.name} | ${status} (flagged: ${JSON.stringify(violations)}) | | | | ${violations?.oversold ?? 0} | ${violations?.conservation_errors ?? 0} | ${violations?.lost ?? 0} | ${violations?.stuck ?? 0} | ${violations?.duplicates ?? 0} | ${violations?.unexpected ?? 0} | | | ${notes} |`,
    );
  }
}
