/**
 * A command whose reader goes away (`capsule sim … | head`) stops quietly: exit code 0, nothing on
 * standard error, no stack trace. Runs the bundle (packages/cli/dist: `node scripts/build.mjs`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const bundle = join(root, 'packages/cli/bin/capsule.js');
const dir = mkdtempSync(join(tmpdir(), 'capsule-closed-pipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI, reads `keepBytes` of its output (0: none), then closes the pipe. */
function runAndClose(argv: readonly string[], keepBytes: number) {
  return new Promise<{ code: number | null; signal: string | null; stderr: string; read: string }>(
    (resolve) => {
      const child = spawn(process.execPath, [bundle, ...argv], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let read = '';
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      if (keepBytes === 0) child.stdout.destroy();
      else
        child.stdout.on('data', (chunk: Buffer) => {
          read += chunk.toString();
          if (read.length >= keepBytes) child.stdout.destroy(); // what `head` does
        });
      child.on('exit', (code, signal) => resolve({ code, signal, stderr, read }));
    },
  );
}

describe('a closed standard output', () => {
  it('`capsule sim … | head -1`: exits 0, quietly', async () => {
    const fixture = JSON.parse(
      readFileSync(join(root, 'examples/programs/fixtures/point-to-point.json'), 'utf8'),
    );
    fixture.packets = Array.from({ length: 20_000 }, (_, i) => fixture.packets[i % fixture.packets.length]);
    writeFileSync(join(dir, 'many.json'), JSON.stringify(fixture));
    const run = await runAndClose(
      ['sim', 'examples/programs/PointToPoint.java', '--entry', 'route', '--packet', join(dir, 'many.json')],
      80,
    );
    expect(run.read).toMatch(/^packet 1: FORWARD/);
    expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
  }, 60_000);

  it('any command: --help, completion, disasm with the pipe closed before they write', async () => {
    for (const argv of [['--help'], ['completion', 'bash'], ['wire', '--help']]) {
      const run = await runAndClose(argv, 0);
      expect(run, argv.join(' ')).toMatchObject({ code: 0, signal: null, stderr: '' });
    }
  }, 60_000);
});
