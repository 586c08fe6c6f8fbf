/**
 * Secrets at rest, as an unprivileged local user would try them: the controller daemon (the CLI
 * bundle) keeps its data dir 0700 and every file 0600, its signing key outside the database; the
 * user `nobody` can read neither the key file nor the database nor its WAL, so cannot forge a
 * token. The same forging script run as the owner does forge one the controller accepts (the
 * attack is real, only the permissions stop it). A key file or data dir others may read makes the
 * controller refuse to start with a non-zero exit.
 *
 * Needs root (to run as `nobody`) and the built bundle; skips without them (fails under CI).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPinnedFetch } from '@capsule/controller';
import { parseCertificateSha256 } from '@capsule/identity';
import { isCI } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../../..');
const bundle = join(repo, 'packages/cli/bin/capsule.js');
const runuser = ['/usr/sbin/runuser', '/sbin/runuser'].find((path) => existsSync(path));
const canRun =
  process.getuid?.() === 0 && runuser !== undefined && existsSync(join(repo, 'packages/cli/dist/capsule.js'));
if (!canRun && isCI) throw new Error('CI must run this test as root with runuser and the built CLI bundle');

/**
 * The attacker: looks for the controller's Ed25519 key in the data dir's files (the key file, the
 * database, its WAL), and with one found signs a systemAdmin token as the controller would.
 */
const forgeScript = `
import { createPrivateKey, sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const dir = process.argv[2];
const report = { errors: [], token: undefined };
let names = ['controller-key.pem', 'controller.db', 'controller.db-wal', 'controller.db-shm', 'tls-key.pem'];
try { names = [...new Set([...names, ...readdirSync(dir)])]; } catch (error) { report.errors.push('readdir ' + error.code); }
for (const name of names) {
  let text;
  try { text = readFileSync(join(dir, name), 'latin1'); } catch (error) { report.errors.push(name + ' ' + error.code); continue; }
  const pem = /-----BEGIN PRIVATE KEY-----[A-Za-z0-9+/=\\s]+-----END PRIVATE KEY-----/.exec(text)?.[0];
  if (!pem) continue;
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') continue;
  const now = Math.floor(Date.now() / 1000);
  const claims = { login: 'admin', dom: 1, domn: 'default', roles: ['systemAdmin'], gen: 0, sub: '1', aud: 'user', iss: 'capsule-controller', iat: now, exp: now + 600 };
  const input = Buffer.from(JSON.stringify({ alg: 'EdDSA' })).toString('base64url') + '.' + Buffer.from(JSON.stringify(claims)).toString('base64url');
  report.token = input + '.' + sign(null, Buffer.from(input), key).toString('base64url');
  report.from = name;
  break;
}
console.log(JSON.stringify(report));
`;

interface Forgery {
  errors: string[];
  token?: string;
  from?: string;
}

describe.skipIf(!canRun)('secrets at rest: an unprivileged local user against the controller', () => {
  let root: string;
  let dataDir: string;
  let daemon: ChildProcess | undefined;
  let northboundUrl: string;
  /** The controller's certificate pin, as it prints it: every request below is pinned HTTPS. */
  let pinnedFetch: typeof fetch;

  /** Starts `capsule controller start` on the data dir; resolves to its northbound URL. */
  const startDaemon = () =>
    new Promise<string>((resolveStart, rejectStart) => {
      const child = spawn(
        process.execPath,
        [
          bundle,
          'controller',
          'start',
          '--data-dir',
          dataDir,
          '--listen',
          '127.0.0.1:0',
          '--southbound-listen',
          '127.0.0.1:0',
          '--log-level',
          'warn',
        ],
        {
          env: { ...process.env, CAPSULE_ADMIN_PASSWORD: 'secrets-at-rest-1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      daemon = child;
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        const url = /northbound (https\S+),/.exec(out)?.[1];
        const pin = /certificate sha256 ([0-9a-f]{64})/.exec(out)?.[1];
        if (url && pin) {
          pinnedFetch = createPinnedFetch(parseCertificateSha256(pin)!);
          resolveStart(url);
        }
      });
      child.stderr!.on('data', (chunk) => {
        err += chunk;
      });
      child.on('exit', (code) => rejectStart(new Error(`controller exited ${code}: ${err}${out}`)));
    });
  const stopDaemon = async () => {
    const child = daemon;
    daemon = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((done) => child.on('exit', done));
    child.kill('SIGTERM');
    await exited;
  };
  /** Runs the daemon to its end; for starts that must fail. */
  const runToExit = () =>
    spawnSync(
      process.execPath,
      [
        bundle,
        'controller',
        'start',
        '--data-dir',
        dataDir,
        '--listen',
        '127.0.0.1:0',
        '--southbound-listen',
        '127.0.0.1:0',
      ],
      {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, CAPSULE_ADMIN_PASSWORD: 'secrets-at-rest-1' },
      },
    );
  const forge = (asUser: 'nobody' | 'root'): Forgery => {
    const argv = [process.execPath, join(root, 'forge.mjs'), dataDir];
    const result =
      asUser === 'nobody'
        ? spawnSync(runuser!, ['-u', 'nobody', '--', ...argv], { encoding: 'utf8', timeout: 30_000 })
        : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Forgery;
  };
  const usersWith = async (token: string) =>
    (await pinnedFetch(`${northboundUrl}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } }))
      .status;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'capsule-secrets-'));
    // Only the data dir's own modes may stand between `nobody` and the files: its parent is open.
    chmodSync(root, 0o755);
    dataDir = join(root, 'controller');
    writeFileSync(join(root, 'forge.mjs'), forgeScript, { mode: 0o644 });
    chmodSync(join(root, 'forge.mjs'), 0o644);
    // Start under a permissive umask: the daemon must not depend on the caller's.
    const previous = process.umask(0o000);
    try {
      northboundUrl = await startDaemon();
    } finally {
      process.umask(previous);
    }
    // Something in the WAL and the store: a login writes nothing, so create a domain.
    const login = await pinnedFetch(`${northboundUrl}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ domain: 'default', username: 'admin', password: 'secrets-at-rest-1' }),
    });
    expect(login.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await stopDaemon();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('keeps the data dir 0700 and every file in it 0600, the key in its own file', () => {
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    for (const name of [
      'controller-key.pem',
      'controller.db',
      'controller.db-wal',
      'controller.db-shm',
      'tls-key.pem',
      'tls-cert.pem',
    ])
      expect({ name, mode: statSync(join(dataDir, name)).mode & 0o777 }).toEqual({ name, mode: 0o600 });
  });

  it('nobody reads neither the data dir nor the key nor the store, and forges no token', async () => {
    const attempt = forge('nobody');
    expect(attempt.token).toBeUndefined();
    expect(attempt.errors).toContain('readdir EACCES');
    expect(attempt.errors).toContain('controller-key.pem EACCES');
    expect(attempt.errors).toContain('controller.db EACCES');
    expect(attempt.errors).toContain('tls-key.pem EACCES');
  });

  it('the same attack as the owner does forge an accepted token (so the test above can fail)', async () => {
    const attempt = forge('root');
    expect(attempt.from).toBe('controller-key.pem');
    expect(await usersWith(attempt.token!)).toBe(200);
    // And the database alone holds no private key: a stolen backup forges nothing.
    const fromStore = spawnSync('grep', ['-c', 'PRIVATE KEY', join(dataDir, 'controller.db')], {
      encoding: 'utf8',
    });
    expect(fromStore.stdout.trim()).toBe('0');
  });

  it('refuses to start, exit code 1, when the key file or the data dir is readable by others', async () => {
    await stopDaemon();
    const key = join(dataDir, 'controller-key.pem');
    chmodSync(key, 0o644);
    let run = runToExit();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('CLI_INSECURE_PERMISSIONS');
    expect(run.stderr).toContain(`chmod 600 ${key}`);
    chmodSync(key, 0o600);
    chmodSync(dataDir, 0o755);
    run = runToExit();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`chmod 700 ${dataDir}`);
    chmodSync(dataDir, 0o700);
  }, 60_000);
});
