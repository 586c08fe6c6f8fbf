/**
 * The controller's configuration file: examples/controller.yaml checks; flags override its keys;
 * every problem at once with its line; an unknown store scheme is a clear error; and a controller
 * started from the bundle with `--config` serves where the file says.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPinnedFetch } from '@capsule/controller';
import { parseCertificateSha256 } from '@capsule/identity';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStore, resolveControllerSettings } from '../src/commands/controller';
import { createRecordingIo, runCli } from '../src/main';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples');
const bundle = join(import.meta.dirname, '..', 'bin', 'capsule.js');
const dir = mkdtempSync(join(tmpdir(), 'capsule-controller-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('controller configuration file', () => {
  it('check-config accepts examples/controller.yaml and prints the settings', async () => {
    const io = createRecordingIo({ cwd: examples });
    expect(await runCli(['controller', 'check-config', 'controller.yaml'], io), io.stderr()).toBe(0);
    expect(JSON.parse(io.stdout())).toMatchObject({
      dataDir: '/var/lib/capsule/controller',
      store: '/var/lib/capsule/controller/controller.db',
      southboundTls: { selfSigned: 'controller.example.net' },
      options: {
        listen: { host: '127.0.0.1', port: 8700 },
        southboundListen: { host: '0.0.0.0', port: 8701 },
        sqliteSynchronous: 'FULL',
      },
    });
  });

  it('takes a flag over the file, paths from the file relative to the file', () => {
    const file = join(dir, 'flags.yaml');
    writeFileSync(file, 'dataDir: data\nlisten: 127.0.0.1:8700\nlogLevel: warn\nstore: db/c.sqlite\n');
    const io = createRecordingIo({ cwd: '/' });
    const fromFile = resolveControllerSettings({ config: file }, io);
    expect(fromFile.dataDir).toBe(join(dir, 'data'));
    expect(fromFile.store).toBe(join(dir, 'db/c.sqlite'));
    expect(fromFile.options.listen).toEqual({ host: '127.0.0.1', port: 8700 });
    expect(fromFile.logLevel).toBe('warn');
    const flags = resolveControllerSettings(
      { config: file, listen: '127.0.0.1:9999', logLevel: 'debug', dataDir: '/srv/c', store: 'sqlite' },
      io,
    );
    expect(flags.options.listen).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(flags.logLevel).toBe('debug');
    expect(flags.store).toBe('/srv/c/controller.db');
    // No file: the defaults.
    const none = resolveControllerSettings({}, createRecordingIo({ cwd: dir }));
    expect(none.options.southboundListen).toEqual({ host: '127.0.0.1', port: 8701 });
    expect(none.dataDir).toBe(join(dir, '.capsule/controller'));
    // TLS unless said otherwise, by the flag or the key.
    expect(none.insecureHttp).toBe(false);
    expect(
      resolveControllerSettings({ insecureHttp: true }, createRecordingIo({ cwd: dir })).insecureHttp,
    ).toBe(true);
  });

  it('reports every problem of a bad file with its line, and an unknown store scheme among them', async () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      'listn: 1.2.3.4:80\nstore: mysql://db/capsule\nsouthboundTls: {cert: a.pem}\nbodyLimitBytes: 10\n',
    );
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['controller', 'check-config', 'bad.yaml'], io)).toBe(1);
    const lines = io.stderr().trim().split('\n');
    expect(lines).toEqual([
      'error [CLI_BAD_CONFIG]: bad.yaml: 4 problems',
      "  bad.yaml:1:1: listn: unknown key (did you mean 'listen'?)",
      "  bad.yaml:2:8: store: unknown store 'mysql:': use sqlite (a file in the data dir), a SQLite file path, or postgres://user:password@host/database",
      '  bad.yaml:3:16: southboundTls.key: is required',
      '  bad.yaml:4:17: bodyLimitBytes: must be an integer in 1024..67108864, got 10',
    ]);
  });

  it('refuses an unknown --store scheme with a clear error and no stack trace', async () => {
    expect(parseStore('postgresql://u:p@h/d', '/d', '/')).toBe('postgresql://u:p@h/d');
    expect(parseStore('sqlite:x.db', '/d', '/base')).toBe('/base/x.db');
    expect(parseStore('./x.db', '/d', '/base')).toBe('/base/x.db');
    for (const store of ['mysql://h/d', 'redis:6379', 'http://x']) {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['controller', 'start', '--data-dir', 'd', '--store', store], io)).toBe(1);
      expect(io.stderr()).toMatch(/^error \[CLI_BAD_STORE\]: unknown store '[a-z]+:'/);
      expect(io.stderr()).not.toMatch(/\n\s+at /);
    }
  });

  it('refuses to start with a weak CAPSULE_ADMIN_PASSWORD: exit 1, WEAK_PASSWORD, no store made', () => {
    const dataDir = join(dir, 'weak');
    const result = spawnSync(
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
      { env: { ...process.env, CAPSULE_ADMIN_PASSWORD: 'x' }, encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/WEAK_PASSWORD.*CAPSULE_ADMIN_PASSWORD.*at least 12 characters/);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  /** Runs the bundle's `controller start` on a config until its console URL shows; then SIGTERM. */
  const runFromConfig = async (
    name: string,
    yaml: string,
    check: (out: string, err: string) => Promise<void>,
  ) => {
    writeFileSync(join(dir, `${name}.yaml`), yaml);
    const child = spawn(
      process.execPath,
      [bundle, 'controller', 'start', '--config', join(dir, `${name}.yaml`)],
      {
        env: { ...process.env, CAPSULE_ADMIN_PASSWORD: 'config-test-password' },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!/web console/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 300)); // the pin and join lines follow the console line
      await check(out, err);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(out).toContain('controller stopped');
  };
  const tokenRequest = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ domain: 'default', username: 'admin', password: 'config-test-password' }),
  };

  it('starts a controller from the bundle with --config on TLS by default, its certificate pinned', async () => {
    await runFromConfig(
      'run',
      'dataDir: run\nlisten: 127.0.0.1:0\nsouthboundListen: 127.0.0.1:0\nsqliteSynchronous: NORMAL\nlogLevel: warn\n',
      async (out) => {
        const url = /northbound (https:\/\/[^,\s]+)/.exec(out)?.[1];
        expect(url, out).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const pinText = /certificate sha256 ([0-9a-f]{64})/.exec(out)?.[1];
        expect(pinText, out).toBeDefined();
        expect(out).toContain(`caSha256: ${pinText}`);
        expect(out).toContain(`--ca-sha256 ${pinText}`);
        // The certificate and its key: 0600 in the data dir, and the pin is the served certificate's.
        for (const file of ['tls-cert.pem', 'tls-key.pem'])
          expect(statSync(join(dir, 'run', file)).mode & 0o777).toBe(0o600);
        const pin = parseCertificateSha256(pinText!)!;
        const token = await createPinnedFetch(pin)(`${url}/api/v1/auth/token`, tokenRequest);
        expect(token.status).toBe(200);
        // A client that trusts the usual CAs refuses the self-signed certificate; a wrong pin too.
        await expect(fetch(`${url}/api/v1/auth/token`, tokenRequest)).rejects.toThrow();
        const wrong = new Uint8Array(pin);
        wrong[0]! ^= 0xff;
        await expect(
          createPinnedFetch(wrong)(`${url}/api/v1/auth/token`, tokenRequest),
        ).rejects.toMatchObject({
          code: 'CONTROLLER_TLS_PIN_MISMATCH',
        });
      },
    );
  }, 60_000);

  it('serves plain HTTP only when insecureHttp says so, with a warning', async () => {
    await runFromConfig(
      'plain',
      'dataDir: plain\nlisten: 127.0.0.1:0\nsouthboundListen: 127.0.0.1:0\nsqliteSynchronous: NORMAL\nlogLevel: warn\ninsecureHttp: true\n',
      async (out, err) => {
        const url = /northbound (http:\/\/[^,\s]+)/.exec(out)?.[1];
        expect(url, out).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(err).toContain('warning: --insecure-http');
        expect(out).not.toContain('certificate sha256');
        expect((await fetch(`${url}/api/v1/auth/token`, tokenRequest)).status).toBe(200);
      },
    );
  }, 60_000);
});
