/**
 * Secrets at rest: the daemons' data directories (mode 0700) and the private files in them (mode
 * 0600: keys, identities, certificates, the SQLite store). The one place that creates, checks and
 * writes them for the controller, the engine and the agent (docs/security.md, "Secrets at rest").
 *
 * A directory or private file that other users can read or enter (any group or other permission
 * bit), or that another user owns, is refused with CLI_INSECURE_PERMISSIONS and the `chmod` that
 * fixes it: the daemon does not start rather than run with a key someone else may hold. Files are
 * created with their mode in the `open` call (never written first and restricted after) and
 * replaced atomically (a temporary file in the same directory, then `rename`).
 */
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { CliError } from './errors';

/** The mode of a daemon's data directory. */
export const PRIVATE_DIRECTORY_MODE = 0o700;
/** The mode of every file a daemon writes into it. */
export const PRIVATE_FILE_MODE = 0o600;
/** Permission bits that let someone other than the owner read, write or enter. */
const OTHERS_BITS = 0o077;
/** The umask the daemons run under: whatever a library creates is the owner's only. */
export const DAEMON_UMASK = 0o077;

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

function checkOwnership(path: string, mode: number, uid: number, kind: 'directory' | 'file'): void {
  const own = process.getuid?.();
  if (own !== undefined && uid !== own)
    throw new CliError(
      'CLI_INSECURE_PERMISSIONS',
      `the ${kind} ${path} belongs to user ${uid}, not to this process's user ${own}: refusing to keep secrets there`,
    );
  if ((mode & OTHERS_BITS) !== 0)
    throw new CliError(
      'CLI_INSECURE_PERMISSIONS',
      `the ${kind} ${path} has mode ${octal(mode)}: other users may read it; ` +
        `run 'chmod ${kind === 'directory' ? '700' : '600'} ${path}' (and treat what it held as exposed)`,
    );
}

/**
 * Makes `path` (and missing parents, 0700 each) a private directory, or checks the existing one:
 * a directory (not a symbolic link), owned by this process's user, mode without group or other
 * bits. Throws CLI_INSECURE_PERMISSIONS, or CLI_BAD_FILE when it cannot be made.
 */
export function preparePrivateDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  } catch (error) {
    throw new CliError('CLI_BAD_FILE', `cannot make the data directory ${path}: ${(error as Error).message}`);
  }
  const stat = lstatSync(path);
  if (!stat.isDirectory())
    throw new CliError(
      'CLI_BAD_FILE',
      `the data directory ${path} is not a directory (a symbolic link is refused)`,
    );
  checkOwnership(path, stat.mode, stat.uid, 'directory');
}

/**
 * Reads a private file, or undefined when it does not exist. Refuses (CLI_INSECURE_PERMISSIONS) a
 * file other users may read or that another user owns, and anything but a regular file.
 */
export function readPrivateFile(path: string): string | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: a symbolic link in the file's place is refused, not followed; the checks below
    // are made on the open file, so nothing can be swapped in between check and read.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CliError('CLI_BAD_FILE', `${path} is a symbolic link: refused`);
    throw new CliError('CLI_BAD_FILE', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new CliError('CLI_BAD_FILE', `${path} is not a regular file`);
    checkOwnership(path, stat.mode, stat.uid, 'file');
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError('CLI_BAD_FILE', `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

const temporaryPath = (path: string) => `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;

/** Writes a private file (mode 0600 from its creation), replacing any earlier one atomically. */
export function writePrivateFile(path: string, text: string): void {
  const temporary = temporaryPath(path);
  try {
    writeFileSync(temporary, text, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CliError('CLI_BAD_FILE', `cannot write ${path}: ${(error as Error).message}`);
  }
}

/**
 * Creates a private file holding `text` unless one exists already, atomically (written aside,
 * then hard-linked into place, which fails when the name is taken): of two processes creating it
 * at once, exactly one wins and both read the winner's content back. Returns the file's content.
 */
export function createPrivateFileOnce(path: string, text: string): string {
  const temporary = temporaryPath(path);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
    writeFileSync(temporary, text, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch (error) {
    throw new CliError('CLI_BAD_FILE', `cannot write ${path}: ${(error as Error).message}`);
  } finally {
    rmSync(temporary, { force: true });
  }
  const stored = readPrivateFile(path);
  if (stored === undefined) throw new CliError('CLI_BAD_FILE', `${path} vanished while it was created`);
  return stored;
}
