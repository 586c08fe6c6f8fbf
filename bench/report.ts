/**
 * Writes benchmark results into docs/performance.md. Each benchmark owns one section, delimited by
 * `<!-- bench:ID:start -->` / `<!-- bench:ID:end -->`, which it replaces whole; the rest of the
 * file (the introduction, other sections) is left as it is.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const performancePath = join(import.meta.dirname, '..', 'docs', 'performance.md');

/** One line that names the machine and runtime the figures come from. */
export function describeMachine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const memoryGiB = Math.round(totalmem() / 2 ** 30);
  let kernel = 'unknown kernel';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {}
  return `${cpus().length} × ${cpu}, ${memoryGiB} GiB, ${kernel}, Node ${process.version}`;
}

/** A Markdown table from a header row and data rows. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Replaces (or appends) the section `id` of docs/performance.md with `title` and `body`. */
export function writePerformanceSection(id: string, title: string, command: string, body: string): void {
  const start = `<!-- bench:${id}:start -->`;
  const end = `<!-- bench:${id}:end -->`;
  const stamp = new Date().toISOString().slice(0, 10);
  const section = [
    start,
    `## ${title}`,
    '',
    `Measured ${stamp} on ${describeMachine()} with \`${command}\`.`,
    '',
    body.trim(),
    end,
  ].join('\n');
  const current = existsSync(performancePath) ? readFileSync(performancePath, 'utf8') : '# Performance\n';
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? current.slice(0, from) + section + current.slice(to + end.length)
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(performancePath, next);
}
