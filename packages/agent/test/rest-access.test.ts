/**
 * Access control of the agent's local REST API (rest-api.ts `startRestApi`): the Unix socket's
 * modes, TCP only with the bearer token, and, as root, real requests as `nobody` (setpriv) that
 * the socket and the TCP listener refuse while the agent's group and the token holder get in.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryNetwork } from '@capsule/overlay';
import { canRun, testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Agent,
  createAgent,
  createMemoryIdentityStore,
  defaultAgentOptions,
  defaultRestApiOptions,
  groupIdOf,
  type RestApiOptions,
  startRestApi,
} from '../src/index';
import { startControllerFixture } from './fixture';

type Fixture = Awaited<ReturnType<typeof startControllerFixture>>;

/** A group `nobody` is not in (gid 1 on Debian): the socket's group in the root tests. */
const agentGroup = 'daemon';
const noSuchGroup = 'capsule-test-no-such-group';

describe('agent REST API access', () => {
  let fixture: Fixture;
  let agent: Agent;
  // 0755 all the way down to the sockets' directories: what refuses `nobody` below is the socket
  // (and the directory the agent made), never a private temp dir above it.
  const root = mkdtempSync(join(tmpdir(), 'capsule-rest-access-'));
  chmodSync(root, 0o755);
  const network = createMemoryNetwork();
  const transport = network.attach({ host: '10.0.9.1', port: 7447 });
  const agentRest: RestApiOptions = {
    ...defaultRestApiOptions,
    socketPath: join(root, 'run', 'agent.sock'),
    socketGroup: agentGroup,
    tcp: { host: '127.0.0.1', port: 0 },
    tokenFile: join(root, 'run', 'agent.token'),
  };

  beforeAll(async () => {
    fixture = await startControllerFixture();
    agent = createAgent(
      {
        ...defaultAgentOptions,
        hostName: 'host-rest.example',
        controllerUrl: fixture.urls.southboundUrl,
        credentials: fixture.credentials,
        tun: undefined,
        resolver: undefined,
        cgaSec: 0,
        rest: agentRest,
      },
      { identityStore: createMemoryIdentityStore(), transport },
    );
    await agent.start();
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await transport.close();
    await fixture?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const token = () => readFileSync(agentRest.tokenFile, 'utf8').trim();
  const tcp = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${agent.restAddress()!.port}${path}`, init);

  it('listens on its socket (0660, group of the config when it exists) and on TCP; the token file is 0600', () => {
    const socket = agent.restSocket()!;
    expect(socket.path).toBe(agentRest.socketPath);
    const socketStat = statSync(socket.path);
    expect(socketStat.isSocket()).toBe(true);
    if (process.getuid?.() === 0) {
      // Root may give the socket to any group: 0660 and the group; the directory it made 0750.
      expect(socketStat.mode & 0o777).toBe(0o660);
      expect(socketStat.gid).toBe(groupIdOf(agentGroup));
      expect(statSync(join(root, 'run')).mode & 0o777).toBe(0o750);
    }
    expect(socket.mode).toBe(socketStat.mode & 0o777);
    expect(statSync(agentRest.tokenFile).mode & 0o777).toBe(0o600);
    expect(token()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses TCP requests without the right bearer token (401, before the body is read), and takes the token', async () => {
    const acl = { in: ['deny tcp port 23'], out: [] };
    const put = (authorization?: string) =>
      tcp('/api/v1/acl', {
        method: 'PUT',
        body: JSON.stringify(acl),
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
      });
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Bearer ${token()}x`,
      `Bearer ${token().slice(1)}`,
      `bearer ${token()}`,
      `Basic ${Buffer.from(`x:${token()}`).toString('base64')}`,
      token(),
    ]) {
      const answer = await put(authorization);
      expect(answer.status, String(authorization)).toBe(401);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await answer.json()) as { code: string }).code).toBe('AGENT_API_UNAUTHENTICATED');
    }
    expect((await tcp('/api/v1/status')).status).toBe(401);
    expect((await tcp('/api/v1/no-such-route')).status).toBe(401);
    expect(agent.getAcl().in).toEqual([]);
    // Forged tokens of every shape: all refused.
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 120 }), async (forged) => {
        const value = `Bearer ${forged}`.replace(/[^\x20-\x7e]/g, '');
        if (value === `Bearer ${token()}`) return;
        expect((await tcp('/api/v1/acl', { headers: { authorization: value } })).status).toBe(401);
      }),
      { seed: testSeed, numRuns: 50 },
    );
    const allowed = await put(`Bearer ${token()}`);
    expect(allowed.status).toBe(200);
    expect(agent.getAcl()).toEqual(acl);
    agent.setAcl({ in: [], out: [] });
  });

  it('refuses a socket path that is too long, a file that is not a socket, an agent already answering; replaces a stale socket', async () => {
    const options = (socketPath: string): RestApiOptions => ({
      ...defaultRestApiOptions,
      socketPath,
      socketGroup: noSuchGroup,
    });
    await expect(startRestApi(options(`/tmp/${'x'.repeat(120)}.sock`), { agent })).rejects.toMatchObject({
      code: 'AGENT_BAD_OPTION',
    });
    const dir = join(root, 'cases');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'file.sock'), 'not a socket');
    await expect(startRestApi(options(join(dir, 'file.sock')), { agent })).rejects.toMatchObject({
      code: 'AGENT_BAD_OPTION',
    });
    expect(readFileSync(join(dir, 'file.sock'), 'utf8')).toBe('not a socket');
    await expect(startRestApi(options(agentRest.socketPath!), { agent })).rejects.toMatchObject({
      code: 'AGENT_API_IN_USE',
    });
    // A socket nothing answers on (an agent that was killed): replaced.
    const stalePath = join(dir, 'stale.sock');
    // A process that exits without closing its server leaves the socket file behind.
    spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(stalePath)}, () => process.exit(0))`,
    ]);
    expect(statSync(stalePath).isSocket()).toBe(true);
    const server = await startRestApi(options(stalePath), { agent });
    // No such group: 0600, and the directory it did not make is left as it was.
    expect(server.socket).toEqual({ path: stalePath, mode: 0o600, groupId: undefined });
    expect(statSync(stalePath).mode & 0o777).toBe(0o600);
    await server.close();
    expect(existsSync(stalePath)).toBe(false);
  });

  it('makes a new token at every start and removes it at stop', async () => {
    const tokenFile = join(root, 'tokens', 'agent.token');
    const options: RestApiOptions = {
      ...defaultRestApiOptions,
      socketPath: undefined,
      tcp: { host: '127.0.0.1', port: 0 },
      tokenFile,
    };
    const first = await startRestApi(options, { agent });
    const firstToken = readFileSync(tokenFile, 'utf8');
    expect(statSync(join(root, 'tokens')).mode & 0o777).toBe(0o700);
    await first.close();
    expect(existsSync(tokenFile)).toBe(false);
    const second = await startRestApi(options, { agent });
    expect(readFileSync(tokenFile, 'utf8')).not.toBe(firstToken);
    await second.close();
  });

  describe.skipIf(!canRun({ root: true, tools: ['setpriv', 'curl'] }))('as an unprivileged user', () => {
    /** curl as `nobody` (its own group only, or also `extraGroup`); the exit code and the HTTP status. */
    async function curlAs(args: string[], extraGroup?: string) {
      // Asynchronously: the agent answering runs in this process.
      const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>(
        (resolve) => {
          execFile(
            'setpriv',
            [
              '--reuid=nobody',
              '--regid=nogroup',
              extraGroup === undefined ? '--clear-groups' : `--groups=${groupIdOf(extraGroup)}`,
              '--',
              'curl',
              '-s',
              '-o',
              '/dev/null',
              '-w',
              '%{http_code}',
              '--max-time',
              '10',
              ...args,
            ],
            { encoding: 'utf8', timeout: 20_000 },
            (error, stdout, stderr) =>
              resolve({
                status: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
                stdout,
                stderr,
              }),
          );
        },
      );
      return { code: result.status, status: result.stdout.trim(), stderr: result.stderr };
    }
    const putAcl = [
      '-X',
      'PUT',
      '-H',
      'content-type: application/json',
      '--data',
      '{"in":["deny any"],"out":[]}',
    ];

    it('nobody cannot connect to the socket (curl: cannot connect), nor change the ACL through it', async () => {
      const socket = agentRest.socketPath!;
      const refused = await curlAs(['--unix-socket', socket, ...putAcl, 'http://agent/api/v1/acl']);
      expect(refused.code, refused.stderr).toBe(7); // couldn't connect: EACCES
      expect(refused.status).toBe('000');
      expect((await curlAs(['--unix-socket', socket, 'http://agent/api/v1/status'])).code).toBe(7);
      expect(agent.getAcl().in).toEqual([]);
      // The agent's group gets in (so what refused nobody was the permissions, not a dead socket).
      const member = await curlAs(['--unix-socket', socket, 'http://agent/api/v1/status'], agentGroup);
      expect(member, member.stderr).toMatchObject({ code: 0, status: '200' });
    });

    it('the socket alone refuses nobody in a directory everyone may enter', async () => {
      const dir = join(root, 'open');
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      const server = await startRestApi(
        {
          ...defaultRestApiOptions,
          socketPath: join(dir, 'agent.sock'),
          socketGroup: agentGroup,
        },
        { agent },
      );
      try {
        expect(statSync(dir).mode & 0o777).toBe(0o755); // not the agent's directory: left as it was
        const refused = await curlAs([
          '--unix-socket',
          join(dir, 'agent.sock'),
          'http://agent/api/v1/status',
        ]);
        expect(refused.code, refused.stderr).toBe(7);
        const member = await curlAs(
          ['--unix-socket', join(dir, 'agent.sock'), 'http://agent/api/v1/status'],
          agentGroup,
        );
        expect(member, member.stderr).toMatchObject({ code: 0, status: '200' });
      } finally {
        await server.close();
      }
    });

    it('nobody cannot read the token, and TCP without it is refused (401)', async () => {
      const read = spawnSync(
        'setpriv',
        ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'cat', agentRest.tokenFile],
        { encoding: 'utf8' },
      );
      expect(read.status).not.toBe(0);
      expect(read.stdout).toBe('');
      const url = `http://127.0.0.1:${agent.restAddress()!.port}/api/v1/acl`;
      expect(await curlAs([...putAcl, url])).toMatchObject({ code: 0, status: '401' });
      expect(await curlAs(['-H', 'authorization: Bearer guessed', ...putAcl, url])).toMatchObject({
        code: 0,
        status: '401',
      });
      expect(agent.getAcl().in).toEqual([]);
    });
  });
});
