/**
 * The admin verbs in-process against a real controller: login keeps a token in the credentials
 * file; create/get/delete print tables or JSON/YAML; apply is declarative and idempotent.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Controller, createController } from '@capsule/controller';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createRecordingIo, runCli } from '../src/main';

describe('capsule login / create / get / delete / apply', () => {
  let dir: string;
  let controller: Controller;
  let url: string;
  let config: string;

  const run = async (...argv: string[]) => {
    const io = createRecordingIo({ cwd: dir, env: { HOME: dir } });
    const code = await runCli(argv, io);
    return { code, out: io.stdout(), err: io.stderr() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-cli-controller-'));
    config = join(dir, 'credentials.json');
    controller = await createController(
      {
        store: join(dir, 'controller.db'),
        listen: { host: '127.0.0.1', port: 0 },
        southboundListen: { host: '127.0.0.1', port: 0 },
        adminPassword: 'cli-password-1',
        sqliteSynchronous: 'NORMAL',
      },
      { logger: pino({ level: 'silent' }) },
    );
    url = (await controller.start()).northboundUrl;
  });
  afterAll(async () => {
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in and keeps the token in a 0600 credentials file', async () => {
    const bad = await run('login', '--url', url, '--password', 'wrong-password', '--config', config);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('error [BAD_CREDENTIALS]');
    const good = await run('login', '--url', url, '--password', 'cli-password-1', '--config', config);
    expect(good.code).toBe(0);
    expect(good.out).toContain('logged in');
    expect(JSON.parse(readFileSync(config, 'utf8'))).toMatchObject({ url, username: 'admin' });
    expect(statSync(config).mode & 0o777).toBe(0o600);
  });

  it('creates, gets (table, json, yaml) and deletes', async () => {
    expect((await run('create', 'domain', 'shop', '--kind', 'application', '--config', config)).code).toBe(0);
    expect(
      (await run('create', 'zone', 'z1', '--netprefix', 'fd00:a:b:c::/64', '--config', config)).code,
    ).toBe(0);
    const user = await run(
      'create',
      'user',
      'ops',
      '--domain',
      'shop',
      '--password',
      'ops-password-1',
      '--roles',
      'domainAdmin,contractAdmin',
      '--zone',
      'z1',
      '--config',
      config,
    );
    expect(user.code).toBe(0);
    expect(user.out).toContain('ops');
    const table = await run('get', 'domains', '--config', config);
    expect(table.out).toMatch(/│ *name *│/);
    expect(table.out).toContain('shop');
    const json = JSON.parse((await run('get', 'user', 'ops', '-o', 'json', '--config', config)).out);
    expect(json).toMatchObject({ login: 'ops', domain: 'shop', roles: ['domainAdmin', 'contractAdmin'] });
    const yaml = YAML.parse((await run('get', 'zone', 'z1', '-o', 'yaml', '--config', config)).out);
    expect(yaml).toMatchObject({ name: 'z1', netprefix: 'fd00:a:b:c::/64' });
    expect((await run('delete', 'user', 'ops', '--config', config)).code).toBe(0);
    const gone = await run('get', 'user', 'ops', '--config', config);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('NOT_FOUND');
  });

  it('creates, lists and deletes a peering (systemAdmin): the domain trusts the peer domain’s engines', async () => {
    expect(
      (await run('create', 'domain', 'carrier', '--kind', 'infrastructure', '--config', config)).code,
    ).toBe(0);
    const created = await run(
      'create',
      'peering',
      'carrier',
      '--domain',
      'shop',
      '-o',
      'json',
      '--config',
      config,
    );
    expect(created.code).toBe(0);
    const peering = JSON.parse(created.out) as { id: number };
    expect(peering).toMatchObject({ domain: 'shop', peerDomain: 'carrier', engineId: null });
    const table = await run('get', 'peerings', '--config', config);
    expect(table.out).toMatch(/│ *peerDomain *│/);
    expect(table.out).toContain('carrier');
    const same = await run('create', 'peering', 'shop', '--domain', 'shop', '--config', config);
    expect(same.code).toBe(1);
    expect(same.err).toContain('VALIDATION_FAILED');
    expect((await run('delete', 'peering', String(peering.id), '--config', config)).code).toBe(0);
    expect((await run('get', 'peering', String(peering.id), '--config', config)).err).toContain('NOT_FOUND');
  });

  it('applies a YAML file idempotently (created, then unchanged, then updated)', async () => {
    const image = {
      code: Buffer.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00]).toString('base64'),
      entries: { main: 0 },
      dataSize: 0,
    };
    const documents = (description: string) =>
      [
        { kind: 'domain', name: 'apply-app', domainKind: 'application' },
        {
          kind: 'template',
          name: 'echo',
          domain: 'apply-app',
          image,
          roles: [
            { name: 'client', entry: 'main' },
            { name: 'server', entry: 'main' },
          ],
        },
        {
          kind: 'contract',
          name: 'echo-1',
          domain: 'apply-app',
          template: 'echo',
          description,
          roles: [
            { name: 'client', peer: 'server' },
            { name: 'server', peer: 'client' },
          ],
        },
        {
          kind: 'service',
          name: 'caller',
          domain: 'apply-app',
          grants: [{ contract: 'echo-1', role: 'client' }],
        },
      ]
        .map((doc) => YAML.stringify(doc))
        .join('---\n');
    const file = join(dir, 'apply.yaml');
    writeFileSync(file, documents('first'));
    const first = await run('apply', '-f', file, '--config', config);
    expect(first.err).toBe('');
    expect(first.out.trim().split('\n')).toEqual([
      'created domain apply-app',
      'created template echo',
      'created contract echo-1',
      'created service caller',
    ]);
    const second = await run('apply', '-f', file, '--config', config);
    expect(second.out.trim().split('\n')).toEqual([
      'unchanged domain apply-app',
      'unchanged template echo',
      'unchanged contract echo-1',
      'unchanged service caller',
    ]);
    writeFileSync(file, documents('second'));
    const third = await run('apply', '-f', file, '--config', config);
    expect(third.out).toContain('updated contract echo-1 (description)');
    const contract = JSON.parse(
      (await run('get', 'contract', 'echo-1', '-o', 'json', '--config', config)).out,
    );
    expect(contract.description).toBe('second');
  });
});
