import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRecordingIo } from '../src/io';
import { runCli } from '../src/main';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples');

describe('capsule agent', () => {
  it('check-config accepts examples/agent.yaml and fills in the options', async () => {
    const io = createRecordingIo({ cwd: examples });
    expect(await runCli(['agent', 'check-config', '--config', 'agent.yaml'], io)).toBe(0);
    const options = JSON.parse(io.stdout());
    expect(options).toMatchObject({
      hostName: 'host-a.example.net',
      controllerUrl: 'https://10.77.0.1:8701',
      credentials: { domain: 'acme', username: 'hosts', password: '***' },
      rest: {
        socketPath: '/run/capsule/agent.sock',
        socketGroup: 'capsule',
        tokenFile: '/run/capsule/agent.token',
        bodyLimitBytes: 65536,
      },
      resolver: { host: '127.0.0.53', port: 53 },
      tun: { name: 'capsule0', mode: 'tun', mtu: 1280 },
      acl: { in: ['deny tcp port 22'], out: [] },
    });
  });

  it('refuses unknown keys, bad values and bad ACL rules with CLI_BAD_CONFIG, each with its line', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'capsule-agent-cli-'));
    const base = 'hostName: h.example\ncontroller: http://127.0.0.1:8701\nuser: u\npassword: p\ndomain: d\n';
    const cases = {
      'unknown.yaml': `${base}colour: blue\n`,
      'port.yaml': `${base}rest:\n  tcp: localhost\n`,
      'socket.yaml': `${base}rest:\n  socket: run/agent.sock\n`,
      'acl.yaml': `${base}acl:\n  in: [permit all]\n`,
      'missing.yaml': 'hostName: h.example\n',
      'notyaml.yaml': 'a: [\n',
      'sec.yaml': `${base}cgaSec: 2\n`,
      'engines.yaml': `${base}engines:\n  - 10.0.0.3:7447\n`,
      'replicas.yaml':
        'hostName: h.example\nuser: u\npassword: p\ndomain: d\ncontroller:\n  urls:\n    - https://a:8701\n    - http://b:8701\n',
    };
    const expected: Record<string, RegExp> = {
      'unknown.yaml': /unknown.yaml:6:1: colour: unknown key/,
      'port.yaml': /port.yaml:7:8: rest.tcp: must be "host:port", got 'localhost'/,
      'socket.yaml': /socket.yaml:7:11: rest.socket: must be an absolute path, got 'run\/agent.sock'/,
      'acl.yaml': /acl.yaml:7:8: acl.in\[0\]: ACL rule "permit all": starts with allow or deny/,
      'missing.yaml': /4 problems[\s\S]*controller: is required/,
      'notyaml.yaml': /notyaml.yaml:2:1: not valid YAML/,
      'sec.yaml': /cgaSec: must be 0 or 1/,
      // The removed bootstrap list: the key, and where a host's engines come from now.
      'engines.yaml':
        /engines.yaml:6:1: engines: was removed: a host's engines are the controller's: declare its attachments there \(capsule create link --between h1 e1/,
      'replicas.yaml':
        /replicas.yaml:8:\d+: controller.urls\[1\]: must be https:\/\/… \(plain http:\/\/ only with controller.insecureHttp: true\)/,
    };
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text);
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['agent', 'check-config', '--config', name], io), name).toBe(1);
      expect(io.stderr(), name).toMatch(/error \[CLI_BAD_CONFIG\]/);
      expect(io.stderr(), name).toMatch(expected[name]!);
      expect(io.stderr(), name).not.toMatch(/schema is false|must be string\n/);
    }
    rmSync(dir, { recursive: true });
  });

  it('register --help says the full name is needed, not the role alone', async () => {
    const io = createRecordingIo();
    expect(await runCli(['agent', 'register', '--help'], io)).toBe(0);
    expect(io.stdout()).toMatch(
      /name\s+the full name <role>\.<contract>\.<domain>\.capsule \(the\s+role alone/,
    );
    expect(io.stdout()).not.toMatch(/the role name/);
  });

  it('status reports an unreachable agent, and an unreadable token file, clearly', async () => {
    const io = createRecordingIo();
    expect(await runCli(['agent', 'status', '--socket', '/nonexistent/agent.sock'], io)).toBe(1);
    expect(io.stderr()).toMatch(/error \[AGENT_UNREACHABLE\]: no agent at \/nonexistent\/agent.sock/);
    const tcp = createRecordingIo();
    expect(
      await runCli(['agent', 'status', '--api', '127.0.0.1:1', '--token-file', '/nonexistent/token'], tcp),
    ).toBe(1);
    expect(tcp.stderr()).toMatch(
      /error \[CLI_READ_FAILED\]: cannot read the agent API token \/nonexistent\/token/,
    );
  });

  it('talks to an agent over its socket, and over TCP with the token file (a wrong token: 401)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { createAgent, createMemoryIdentityStore, defaultAgentOptions, startRestApi } = await import(
      '@capsule/agent'
    );
    const { createMemoryNetwork } = await import('@capsule/overlay');
    const dir = mkdtempSync(join(tmpdir(), 'capsule-agent-cli-api-'));
    const transport = createMemoryNetwork().attach({ host: '10.0.0.1', port: 7447 });
    // A real agent that is not started: its status and ACL answer without a controller.
    const agent = createAgent(
      {
        ...defaultAgentOptions,
        hostName: 'cli-api.example',
        controllerUrl: 'http://127.0.0.1:1',
        credentials: { domain: 'd', username: 'u', password: 'p' },
        tun: undefined,
      },
      { identityStore: createMemoryIdentityStore(), transport },
    );
    const tokenFile = join(dir, 'agent.token');
    const server = await startRestApi(
      {
        ...defaultAgentOptions.rest,
        socketPath: join(dir, 'agent.sock'),
        tcp: { host: '127.0.0.1', port: 0 },
        tokenFile,
      },
      { agent },
    );
    try {
      const bySocket = createRecordingIo();
      expect(await runCli(['agent', 'status', '--socket', join(dir, 'agent.sock')], bySocket)).toBe(0);
      expect(JSON.parse(bySocket.stdout())).toMatchObject({ hostName: 'cli-api.example' });
      const api = `127.0.0.1:${server.tcp!.port}`;
      const byTcp = createRecordingIo();
      expect(await runCli(['agent', 'status', '--api', api, '--token-file', tokenFile], byTcp)).toBe(0);
      expect(JSON.parse(byTcp.stdout())).toMatchObject({ hostName: 'cli-api.example' });
      writeFileSync(join(dir, 'wrong.token'), 'not-the-token\n');
      const wrong = createRecordingIo();
      expect(
        await runCli(['agent', 'status', '--api', api, '--token-file', join(dir, 'wrong.token')], wrong),
      ).toBe(1);
      expect(wrong.stderr()).toMatch(/AGENT_API_UNAUTHENTICATED/);
    } finally {
      await server.close();
      await transport.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
