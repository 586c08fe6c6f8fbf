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
      controllerUrl: 'http://10.77.0.1:8701',
      credentials: { domain: 'acme', username: 'hosts', password: '***' },
      engines: [{ host: '10.77.1.1', port: 7447 }],
      rest: { host: '127.0.0.1', port: 5500 },
      resolver: { host: '127.0.0.53', port: 53 },
      tun: { name: 'capsule0', mode: 'tun', mtu: 1280 },
      acl: { in: ['deny tcp port 22'], out: [] },
    });
  });

  it('refuses unknown keys, bad values and bad ACL rules with AGENT_BAD_CONFIG', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'capsule-agent-cli-'));
    const base = 'hostName: h.example\ncontroller: http://127.0.0.1:8701\nuser: u\npassword: p\ndomain: d\n';
    const cases = {
      'unknown.yaml': `${base}colour: blue\n`,
      'port.yaml': `${base}rest: localhost\n`,
      'acl.yaml': `${base}acl:\n  in: [permit all]\n`,
      'missing.yaml': 'hostName: h.example\n',
      'notyaml.yaml': 'a: [\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text);
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['agent', 'check-config', '--config', name], io), name).toBe(1);
      expect(io.stderr(), name).toMatch(/error \[AGENT_BAD(_CONFIG|_ACL)\]/);
    }
    rmSync(dir, { recursive: true });
  });

  it('status reports an unreachable agent clearly', async () => {
    const io = createRecordingIo();
    expect(await runCli(['agent', 'status', '--api', '127.0.0.1:1'], io)).toBe(1);
    expect(io.stderr()).toMatch(/error \[AGENT_UNREACHABLE\]/);
  });
});
