import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GENERATED_BELOW, writeReport } from '../src/report.ts';

const run = (perSecond: number) => ({
  command: 'npm run bench',
  date: '2026-12-02',
  machine: 'test',
  rows: [{ scenario: 'scenario', what: 'what', perSecond, notes: '' }],
  ratios: [{ target: 'a ÷ b', measured: 1, goal: 0.9, kind: 'min' as const }],
  extra: '',
});

describe('the bench report', () => {
  it('keeps the hand-written guide above the marker and writes the run below it anew', () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    try {
      const path = join(dir, 'benchmarks.md');
      const guide = '# Benchmarks: what this is for\n\n## How to read it\n\nHand-written.\n\n';
      writeFileSync(path, `${guide}${GENERATED_BELOW}\n\nan old run: 1,111 per second\n`);
      writeReport(path, join(dir, 'chart.svg'), run(2222));
      writeReport(path, join(dir, 'chart.svg'), run(3333));
      const text = readFileSync(path, 'utf8');
      assert.ok(text.startsWith(`${guide}${GENERATED_BELOW}\n`), 'the guide above the marker changed');
      assert.equal(text.split(GENERATED_BELOW).length, 2, 'the marker is there once');
      assert.match(text, /3,333/);
      assert.doesNotMatch(text, /1,111|2,222/, 'an earlier run is left in the report');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
