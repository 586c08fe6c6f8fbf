/**
 * `capsule revoke` against a real controller (HTTP, SQLite): an authorization is revoked (the
 * controller shows revokedAt), an endpoint revoked is gone with its authorization revoked, a
 * service token revoked no longer registers, a node revoked is decommissioned (its host id is
 * refused at registration); unknown kinds, kinds that are not credentials, unknown ids and a
 * missing login are clear errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminPassword,
  registerNode,
  registrationBody,
  startController,
  tinyProgram,
} from '../../controller/test/harness';
import { createRecordingIo, runCli } from '../src/main';

describe('capsule revoke', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  let dir: string;
  let config: string;
  let serviceToken: string;
  let tokenId: number;
  let host: Awaited<ReturnType<typeof registerNode>>;
  const hosts = { domain: 'default', username: 'hosts', password: 'host-password-1' };

  const run = async (...argv: string[]) => {
    const io = createRecordingIo({ cwd: dir, env: { HOME: dir } });
    const code = await runCli([...argv, '--config', config], io);
    return { code, out: io.stdout(), err: io.stderr() };
  };
  const register = (role: 'client' | 'server') =>
    host.sb.registerEndpoint({ serviceToken, contract: 'rv-web', role });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-cli-revoke-'));
    config = join(dir, 'credentials.json');
    c = await startController('sqlite');
    const zone = await c.admin.zones.create({ name: 'zone-rv', netprefix: 'fd00:8:8:8::/64' });
    await c.admin.users.create({
      login: 'hosts',
      password: hosts.password,
      roles: ['hostOwner'],
      zoneId: zone.id,
    });
    host = await registerNode(c.urls.southboundUrl, hosts, { type: 'host', hostname: 'rv-h1' });
    const template = await c.admin.templates.create({
      name: 'rv-template',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server' },
      ],
    });
    const contract = await c.admin.contracts.create({
      name: 'rv-web',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const service = await c.admin.services.create({
      name: 'rv-service',
      grants: [
        { contractId: contract.id, role: 'client' },
        { contractId: contract.id, role: 'server' },
      ],
    });
    const token = await c.admin.serviceTokens.create({ serviceId: service.id });
    serviceToken = token.token!;
    tokenId = token.id;
    const login = await runCli(
      ['login', '--url', c.urls.northboundUrl, '--password', adminPassword, '--config', config],
      createRecordingIo({ cwd: dir, env: { HOME: dir } }),
    );
    expect(login).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('revokes an authorization: the controller records it', async () => {
    const endpoint = await register('client');
    const authorization = (await c.admin.authorizations.list()).items.find(
      (a) => a.endpointId === endpoint.endpoint.id,
    )!;
    expect(authorization.revokedAt).toBeNull();
    const done = await run('revoke', 'authorization', String(authorization.id));
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain(`revoked authorization ${authorization.id} (serial ${authorization.serial})`);
    const after = (await c.admin.authorizations.list()).items.find((a) => a.id === authorization.id)!;
    expect(after.revokedAt).not.toBeNull();
  });

  it('revokes an endpoint: gone at the controller, its authorization revoked', async () => {
    const endpoint = await register('server');
    const done = await run('revoke', 'endpoint', String(endpoint.endpoint.id));
    expect(done.code, done.err).toBe(0);
    expect(
      (await c.admin.endpoints.list({ limit: 1000 })).items.some((e) => e.id === endpoint.endpoint.id),
    ).toBe(false);
    const authorizations = (await c.admin.authorizations.list()).items.filter(
      (a) => a.serial === endpoint.authorization.serial,
    );
    expect(authorizations.length).toBe(1);
    expect(authorizations[0]!.revokedAt).not.toBeNull();
  });

  it('revokes a service token: it registers nothing any more', async () => {
    const done = await run('revoke', 'token', String(tokenId));
    expect(done.code, done.err).toBe(0);
    await expect(register('client')).rejects.toMatchObject({ code: 'SERVICE_TOKEN_INVALID' });
  });

  it('revokes a node by host name: decommissioned, its host id refused at registration', async () => {
    const done = await run('revoke', 'node', 'rv-h1');
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain('revoked node rv-h1');
    expect((await c.admin.nodes.list({ limit: 1000 })).items.some((n) => n.hostname === 'rv-h1')).toBe(false);
    const { nonce } = await host.sb.nonce();
    await expect(
      host.sb.register(registrationBody(host.identity, nonce, { type: 'host', hostname: 'rv-h1' })),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses what is not a credential, unknown kinds and ids, and a missing login, with clear errors', async () => {
    const notCredential = await run('revoke', 'contract', 'rv-web');
    expect(notCredential.code).toBe(1);
    expect(notCredential.err).toContain('CLI_BAD_KIND');
    expect(notCredential.err).toContain(
      'cannot revoke a contract (one of authorization, endpoint, node, token)',
    );
    const unknownKind = await run('revoke', 'teapot', '1');
    expect(unknownKind.err).toContain("unknown kind 'teapot'");
    for (const ref of ['999999', '-1', 'not-a-number', '0x1', `${'9'.repeat(400)}`]) {
      const missing = await run('revoke', 'authorization', ref);
      expect(missing.code, ref).toBe(1);
      expect(missing.err, ref).toMatch(/error \[[A-Z_]+\]/);
      expect(missing.err, ref).not.toContain('    at ');
    }
    const io = createRecordingIo({ cwd: dir, env: { HOME: dir } });
    expect(await runCli(['revoke', 'authorization', '1', '--config', join(dir, 'nobody.json')], io)).toBe(1);
    expect(io.stderr()).toContain('CLI_NOT_LOGGED_IN');
  });
});
