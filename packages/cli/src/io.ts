/**
 * What a command may touch of the outside world. The real one writes to the process's streams;
 * tests pass one that records, so commands run in-process without spawning.
 */
export interface CliIo {
  /** Writes to standard output (text is written as given: add your own newline). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** The environment, read only here and in config loading. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths are resolved against. */
  readonly cwd: string;
  /** True when standard output is a terminal (progress spinners and colours only then). */
  readonly isTty: boolean;
  /** The exit code the command asks for; 0 unless a command sets it. */
  exitCode: number;
}

/**
 * A reader that went away (`capsule sim … | head`): the write fails with EPIPE. The command stops
 * at once and quietly, exit code 0 (the reader had what it wanted), instead of dying on an
 * unhandled 'error' event with a stack trace. EPIPE on standard error is ignored (nowhere to say it).
 */
function onStdoutError(error: NodeJS.ErrnoException): void {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
}
function onStderrError(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}

/** The CliIo of the running process. */
export function createProcessIo(): CliIo {
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  if (!process.stderr.listeners('error').includes(onStderrError)) process.stderr.on('error', onStderrError);
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    isTty: Boolean(process.stdout.isTTY),
    exitCode: 0,
  };
}

/** A CliIo that records output, for tests. */
export function createRecordingIo(options: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo & { stdout: () => string; stderr: () => string } = {
    out: (text) => void stdout.push(text),
    err: (text) => void stderr.push(text),
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    isTty: false,
    exitCode: 0,
    stdout: () => stdout.join(''),
    stderr: () => stderr.join(''),
  };
  return io;
}
