import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMPLETION_TREE_FILE, readCompletionTree } from './commands/completion';
import { commandTable } from './commands/index';
import { createRecordingIo } from './io';
import { runCli } from './main';
import { areaOfArgv, createFullProgram, createProgram, walk } from './program';

const bundle = join(import.meta.dirname, '..', 'dist', 'capsule.js');
const run = promisify(execFile);

describe('the command table and lazy areas', () => {
  it('says what the areas register: every top-level command, its term and description, in order', async () => {
    const program = await createFullProgram(createRecordingIo());
    const help = new Help();
    const registered = program.commands.map((command) => ({
      name: command.name(),
      term: help.subcommandTerm(command),
      description: command.description(),
    }));
    expect(registered).toEqual(
      commandTable.map(({ name, term, description }) => ({ name, term, description })),
    );
  });

  it('loads no area for --version and --help, and only the area of the command that runs', async () => {
    expect(areaOfArgv(['--version'])).toBeUndefined();
    expect(areaOfArgv(['agent', 'status', '--api', '127.0.0.1:1'])).toBe('agent');
    expect(areaOfArgv(['agent', '--help'])).toBe('agent');
    expect(areaOfArgv(['help', 'compile'])).toBe('sdk');
    const bare = await createProgram(createRecordingIo(), ['--help']);
    expect(
      [...walk(bare)].every((command) => command.commands.length === 0 && command.options.length === 0),
    ).toBe(true);
    const agent = await createProgram(createRecordingIo(), ['agent', 'status']);
    const loaded = agent.commands.filter(
      (command) => command.commands.length > 0 || command.options.length > 0,
    );
    expect(loaded.map((command) => command.name())).toEqual(['agent']);
  });

  it('prints the same root help lazily as with every area loaded', async () => {
    const lazy = createRecordingIo();
    expect(await runCli(['--help'], lazy)).toBe(0);
    const full = createRecordingIo();
    const program = await createFullProgram(full);
    full.out(program.helpInformation());
    expect(lazy.stdout()).toBe(full.stdout());
    expect(lazy.stdout()).toContain('compile [options] <file>');
  });

  it('the bundle answers --version without loading any third-party module but commander', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const { runCli } = await import(${JSON.stringify(bundle)});
      const io = { out() {}, err() {}, env: {}, cwd: '/', isTty: false, exitCode: 0 };
      await runCli(['--version'], io);
      await runCli(['--help'], io);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.map((p) => p.replace(/.*node_modules\\//, ''))));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    const loaded = JSON.parse(stdout) as string[];
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter((path) => !path.startsWith('commander/'))).toEqual([]);
  });
});

describe('capsule completion', () => {
  const complete = (script: string, line: string) => {
    // COMP_WORDS as bash splits the line (a trailing space starts an empty word).
    const words = line.split(' ');
    const program = `${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_capsule; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = spawnSync('bash', ['--norc', '-c', program], {
      encoding: 'utf8',
      cwd: import.meta.dirname,
    });
    expect(result.stderr).toBe('');
    return result.stdout.trim().split('\n');
  };

  it('bash: completes commands, subcommands, options and files from the command tree', async () => {
    const io = createRecordingIo();
    expect(await runCli(['completion', 'bash'], io)).toBe(0);
    const script = io.stdout();
    expect(complete(script, 'capsule ag')).toEqual(['agent']);
    expect(complete(script, 'capsule agent ')).toEqual(
      expect.arrayContaining(['start', 'check-config', 'status', 'endpoints', 'register', '--help']),
    );
    expect(complete(script, 'capsule agent register --')).toEqual([
      '--token',
      '--socket',
      '--api',
      '--token-file',
      '--help',
    ]);
    expect(complete(script, 'capsule controller start --c')).toEqual(['--config']);
    // After an option that takes a value: file names.
    expect(complete(script, 'capsule controller start --config program.t')).toEqual(
      expect.arrayContaining(['program.ts', 'program.test.ts']),
    );
    expect(complete(script, 'capsule --v')).toEqual(['--version']);
  });

  it('zsh: the script is valid zsh and completes the same words', async (context) => {
    if (spawnSync('zsh', ['-c', 'true']).status !== 0) {
      if (process.env.CI) throw new Error('zsh is missing (scripts/setup.sh installs it)');
      console.info('skipped: zsh is not installed');
      context.skip();
    }
    const io = createRecordingIo();
    expect(await runCli(['completion', 'zsh'], io)).toBe(0);
    const script = io.stdout();
    expect(script.startsWith('#compdef capsule\n')).toBe(true);
    // compadd and _files exist only inside completion widgets: stand-ins print what they are given.
    const program = `compadd() { shift; print -l -- "$@" }; _files() { print FILES }
${script.replace(/if \[\[ \$\{zsh_eval_context[\s\S]*$/, '')}
words=(capsule agent reg); CURRENT=3; _capsule
words=(capsule engine start --config e); CURRENT=5; _capsule`;
    const result = spawnSync('zsh', ['-f', '-c', program], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('register\n');
    expect(result.stdout.trim().endsWith('FILES')).toBe(true);
  });

  it('the bundle prints the same scripts from its build-time tree file, loading no command area', async () => {
    for (const shell of ['bash', 'zsh']) {
      const io = createRecordingIo();
      expect(await runCli(['completion', shell], io)).toBe(0); // from the sources: every area loaded
      const { stdout } = await run(process.execPath, [
        join(bundle, '..', '..', 'bin', 'capsule.js'),
        'completion',
        shell,
      ]);
      expect(stdout, shell).toBe(io.stdout());
    }
    const script = `
      import { createRequire } from 'node:module';
      const { runCli } = await import(${JSON.stringify(bundle)});
      const io = { out() {}, err() {}, env: {}, cwd: '/', isTty: false, exitCode: 0 };
      await runCli(['completion', 'bash'], io);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.map((p) => p.replace(/.*node_modules\\//, ''))));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect((JSON.parse(stdout) as string[]).filter((path) => !path.startsWith('commander/'))).toEqual([]);
  });

  it('ignores a tree file that is not a list of entries (then the tree is loaded)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'capsule-completion-'));
    const file = join(directory, COMPLETION_TREE_FILE);
    const url = pathToFileURL(file);
    expect(readCompletionTree(url)).toBeUndefined(); // none
    const good = { path: '', subcommands: ['agent'], options: ['--help'], valueOptions: [] };
    for (const text of [
      '',
      '{',
      'null',
      '[]',
      '{"path": ""}',
      '[1]',
      JSON.stringify([{ ...good, path: 'agent' }]), // no root first
      JSON.stringify([{ ...good, subcommands: ['$(reboot)'] }]), // not a word: never into the script
      JSON.stringify([{ ...good, path: 'a"b' }]),
      JSON.stringify([{ ...good, options: 'x' }]),
      'x'.repeat(10_000),
    ]) {
      writeFileSync(file, text);
      expect(readCompletionTree(url), text.slice(0, 40)).toBeUndefined();
    }
    writeFileSync(file, JSON.stringify([good]));
    expect(readCompletionTree(url)).toEqual([good]);
    rmSync(directory, { recursive: true, force: true });
  });

  it('refuses another shell', async () => {
    const io = createRecordingIo();
    expect(await runCli(['completion', 'fish'], io)).toBe(1);
    expect(io.stderr()).toMatch(/bash or zsh/);
  });
});
