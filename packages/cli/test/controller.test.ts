/**
 * The admin verbs in-process against a real controller: login keeps a token in the credentials
 * file; create/get/delete print tables or JSON/YAML; apply is declarative and idempotent.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Controller, createController } from '@capsule/controller';
import { createTlsCertificate, formatCertificateSha256 } from '@capsule/identity';
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

  it('logs in to a list of replicas (--url repeated): calls go to the first that answers; bad lists are refused', async () => {
    // A closed port first: a replica that is down.
    const dead = createServer();
    const deadUrl = await new Promise<string>((resolve) =>
      dead.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(dead.address() as AddressInfo).port}`)),
    );
    await new Promise((resolve) => dead.close(resolve));
    const replicasConfig = join(dir, 'replicas.json');
    const login = await run(
      'login',
      '--url',
      deadUrl,
      '--url',
      url,
      '--password',
      'cli-password-1',
      '--config',
      replicasConfig,
    );
    expect(login.err).toBe('');
    expect(login.out).toContain(`logged in to ${url} as admin@default`);
    expect(login.out).toContain('1 more replica on record');
    expect(JSON.parse(readFileSync(replicasConfig, 'utf8'))).toMatchObject({
      url: deadUrl,
      urls: [deadUrl, url],
    });
    const domains = await run('get', 'domains', '-o', 'json', '--config', replicasConfig);
    expect(domains.code).toBe(0);
    expect(JSON.parse(domains.out).map((d: { name: string }) => d.name)).toContain('default');
    // Hostile lists: each refused before anything is sent, naming the URL and what is wrong.
    for (const [urls, message] of [
      [['ftp://a:1'], 'must be https://host:port, not ftp://'],
      [[url, `${url}/`], `repeats controller URL [0]`],
      [['https://u:p@a:1'], 'must be an origin'],
      [['not a url'], 'is not a URL'],
      [Array.from({ length: 17 }, (_, i) => `https://c${i}:1`), 'names 17 controllers; at most 16'],
    ] as const) {
      const refused = await run(
        'login',
        ...urls.flatMap((u) => ['--url', u]),
        '--password',
        'cli-password-1',
        '--config',
        join(dir, 'refused.json'),
      );
      expect(refused.code).toBe(1);
      expect(refused.err).toContain('CLI_BAD_OPTION');
      expect(refused.err).toContain(message);
    }
    const pinnedHttp = await run(
      'login',
      '--url',
      url,
      '--ca-sha256',
      'ab'.repeat(32),
      '--password',
      'cli-password-1',
      '--config',
      join(dir, 'refused.json'),
    );
    expect(pinnedHttp.err).toContain('with --ca-sha256 every controller URL must be https://');
    expect(() => readFileSync(join(dir, 'refused.json'))).toThrow();
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
    // Narrowing through apply: the template disabled (then enabled again), the domain deactivated.
    const narrowed = documents('second')
      .replace('name: echo\n', 'name: echo\nenabled: false\n')
      .replace('domainKind: application\n', 'domainKind: application\nactive: false\n');
    writeFileSync(file, narrowed);
    const fourth = await run('apply', '-f', file, '--config', config);
    expect(fourth.out).toContain('updated domain apply-app (active)');
    expect(fourth.out).toContain('updated template echo (enabled)');
    const template = JSON.parse((await run('get', 'template', 'echo', '-o', 'json', '--config', config)).out);
    expect(template.enabled).toBe(false);
    const domains = (await run('get', 'domains', '--config', config)).out;
    expect(domains).toMatch(/\bactive\b/);
    expect(domains.split('\n').find((line) => line.includes('apply-app'))).toMatch(/\bfalse\b/);
  });

  it('labels a node and a link (by hostnames), clears them, and refuses bad labels and unknown nodes', async () => {
    const zone = JSON.parse((await run('get', 'zone', 'z1', '-o', 'json', '--config', config)).out);
    const nodeFile = (hostname: string) => {
      const file = join(dir, `${hostname}.yaml`);
      writeFileSync(file, YAML.stringify({ type: 'engine', hostname, zoneId: zone.id }));
      return file;
    };
    for (const name of ['e1', 'e3'])
      expect((await run('create', 'node', '-f', nodeFile(name), '--config', config)).code).toBe(0);
    const ids = await Promise.all(
      ['e1', 'e3'].map(
        async (name) => JSON.parse((await run('get', 'node', name, '-o', 'json', '--config', config)).out).id,
      ),
    );
    const linkFile = join(dir, 'link.yaml');
    writeFileSync(linkFile, YAML.stringify({ nodeA: ids[0], nodeZ: ids[1], cost: 1 }));
    expect((await run('create', 'link', '-f', linkFile, '--config', config)).code).toBe(0);

    const node = await run('label', 'node', 'e3', 'waypoint', '-o', 'json', '--config', config);
    expect(node.code, node.err).toBe(0);
    expect(JSON.parse(node.out).labels).toEqual(['waypoint']);
    // The link by its two ends, in either order.
    const link = await run(
      'label',
      'link',
      'e3',
      'e1',
      'preferred',
      'fast',
      '-o',
      'json',
      '--config',
      config,
    );
    expect(link.code, link.err).toBe(0);
    expect(JSON.parse(link.out)).toMatchObject({
      nodeA: ids[0],
      nodeZ: ids[1],
      labels: ['preferred', 'fast'],
    });
    expect((await run('get', 'node', 'e3', '--config', config)).out).toContain('waypoint');
    const cleared = await run('label', 'node', 'e3', '-o', 'json', '--config', config);
    expect(JSON.parse(cleared.out).labels).toEqual([]);

    const bad = await run('label', 'node', 'e3', 'has space', '--config', config);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('VALIDATION_FAILED');
    const missing = await run('label', 'node', 'nowhere', 'x', '--config', config);
    expect(missing.err).toContain('NOT_FOUND');
    expect((await run('label', 'link', 'e1', 'e1', 'x', '--config', config)).err).toContain('NOT_FOUND');
    expect((await run('label', 'zone', 'z1', 'x', '--config', config)).err).toContain('CLI_BAD_KIND');
    expect((await run('label', 'link', 'e1', '--config', config)).err).toContain('CLI_MISSING_OPTION');
  });

  it('declares links by hostname (create link --between, a chain), lists and deletes them, and refuses bad ones', async () => {
    const zone = JSON.parse((await run('get', 'zone', 'z1', '-o', 'json', '--config', config)).out);
    for (const hostname of ['l1', 'l2', 'l4']) {
      const file = join(dir, `${hostname}.yaml`);
      writeFileSync(file, YAML.stringify({ type: 'engine', hostname, zoneId: zone.id }));
      expect((await run('create', 'node', '-f', file, '--config', config)).code).toBe(0);
    }
    const id = async (name: string) =>
      JSON.parse((await run('get', 'node', name, '-o', 'json', '--config', config)).out).id as number;
    const [l1, l2, l4] = [await id('l1'), await id('l2'), await id('l4')];
    const direct = await run(
      'create',
      'link',
      '--between',
      'l1',
      'l2',
      '--cost',
      '10',
      '-o',
      'json',
      '--config',
      config,
    );
    expect(direct.code, direct.err).toBe(0);
    expect(JSON.parse(direct.out)).toMatchObject({ nodeA: l1, nodeZ: l2, cost: 10, origin: 'admin' });
    // A chain in one call: l1–l4 and l4–l2.
    const chain = await run(
      'create',
      'link',
      '--between',
      'l1',
      'l4',
      'l2',
      '--cost',
      '3',
      '-o',
      'json',
      '--config',
      config,
    );
    expect(chain.code, chain.err).toBe(0);
    expect(
      JSON.parse(chain.out).map((link: { nodeA: number; nodeZ: number; cost: number }) => [
        link.nodeA,
        link.nodeZ,
        link.cost,
      ]),
    ).toEqual([
      [l1, l4, 3],
      [l2, l4, 3],
    ]);
    const listed = await run('get', 'links', '--config', config);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('origin');
    expect((await run('create', 'link', '--between', 'l2', 'l1', '--config', config)).err).toContain(
      'CONFLICT',
    );
    expect((await run('create', 'link', '--between', 'l1', 'l1', '--config', config)).err).toContain(
      'VALIDATION_FAILED',
    );
    expect((await run('create', 'link', '--between', 'l1', 'nowhere', '--config', config)).err).toContain(
      'NOT_FOUND',
    );
    expect((await run('create', 'link', '--between', 'l1', '--config', config)).err).toContain(
      'CLI_MISSING_OPTION',
    );
    for (const cost of ['0', '65536', 'ten', '1.5'])
      expect(
        (await run('create', 'link', '--between', 'l1', 'l2', '--cost', cost, '--config', config)).err,
      ).toContain('CLI_BAD_OPTION');
    const removed = await run('delete', 'link', '--between', 'l2', 'l1', '--config', config);
    expect(removed.code, removed.err).toBe(0);
    expect(removed.out).toContain('deleted link l2–l1');
    expect((await run('delete', 'link', '--between', 'l2', 'l1', '--config', config)).err).toContain(
      'NOT_FOUND',
    );
    expect((await run('delete', 'link', '--config', config)).err).toContain('CLI_MISSING_OPTION');
    expect((await run('delete', 'zone', 'z1', '--between', 'l1', 'l2', '--config', config)).err).toContain(
      'CLI_BAD_OPTION',
    );
  });

  it('applies the project’s use-case files as they are: `program: X.java` is compiled and uploaded', async () => {
    const useCases = join(import.meta.dirname, '../../../examples/use-cases');
    for (const name of readdirSync(useCases).sort()) {
      const file = join(useCases, name, 'contract.yaml');
      const first = await run('apply', '-f', file, '--config', config);
      expect(first.code, `${name}: ${first.err}`).toBe(0);
      expect(first.out).toMatch(/^created template /);
      const again = await run('apply', '-f', file, '--config', config);
      expect(again.out, name).toMatch(/^unchanged template /);
    }
    // The template holds the compiled code: the logic hash of the SDK's image of the program.
    const template = JSON.parse(
      (await run('get', 'template', 'balance', '-o', 'json', '--config', config)).out,
    );
    expect(template.image.entries).toHaveProperty('leastLoaded');
    expect(template.roles).toContainEqual({ name: 'server', entry: 'reply', linkTag: 3 });
    // compile --format api writes that same image.
    const out = join(dir, 'lb.json');
    const compiled = await run(
      'compile',
      join(import.meta.dirname, '../../../examples/programs/LoadBalancer.java'),
      '--format',
      'api',
      '-o',
      out,
    );
    expect(compiled.code, compiled.err).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(template.image);
    expect(
      (
        await run(
          'compile',
          join(import.meta.dirname, '../../../examples/programs/LoadBalancer.java'),
          '--format',
          'elf',
          '-o',
          out,
        )
      ).err,
    ).toContain('CLI_BAD_OPTION');
    // A program that does not compile, or is not there.
    writeFileSync(join(dir, 'Broken.java'), 'class Broken { void x( }');
    writeFileSync(
      join(dir, 'broken.yaml'),
      'kind: template\nname: broken\nprogram: Broken.java\nroles: [{ name: a, entry: a }]\n',
    );
    const broken = await run('apply', '-f', join(dir, 'broken.yaml'), '--config', config);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain('SDK_COMPILE_FAILED');
    writeFileSync(
      join(dir, 'missing.yaml'),
      'kind: template\nname: missing\nprogram: Nowhere.java\nroles: [{ name: a, entry: a }]\n',
    );
    expect((await run('apply', '-f', join(dir, 'missing.yaml'), '--config', config)).err).toContain(
      'CLI_READ_FAILED',
    );
  });
});

describe('capsule login on TLS: the controller certificate pinned', () => {
  let dir: string;
  let controller: Controller;
  let url: string;
  let pin: string;

  const run = async (env: Record<string, string>, ...argv: string[]) => {
    const io = createRecordingIo({ cwd: dir, env: { HOME: dir, ...env } });
    const code = await runCli(argv, io);
    return { code, out: io.stdout(), err: io.stderr() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-cli-tls-'));
    const certificate = await createTlsCertificate({ names: ['127.0.0.1'] });
    pin = formatCertificateSha256(certificate.sha256);
    const tls = { cert: certificate.certificatePem, key: certificate.privateKeyPem };
    controller = await createController(
      {
        store: join(dir, 'controller.db'),
        listen: { host: '127.0.0.1', port: 0 },
        southboundListen: { host: '127.0.0.1', port: 0 },
        adminPassword: 'cli-password-1',
        sqliteSynchronous: 'NORMAL',
        northboundTls: tls,
        southboundTls: tls,
      },
      { logger: pino({ level: 'silent' }) },
    );
    url = (await controller.start()).northboundUrl;
  });
  afterAll(async () => {
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a wrong pin before the password is sent, naming both fingerprints; writes no credentials', async () => {
    const config = join(dir, 'wrong.json');
    const wrong = `${pin.slice(0, 63)}${pin.endsWith('0') ? '1' : '0'}`;
    const result = await run(
      {},
      'login',
      '--url',
      url,
      '--password',
      'cli-password-1',
      '--ca-sha256',
      wrong,
      '--config',
      config,
    );
    expect(result.code).toBe(1);
    expect(result.err).toContain('error [CONTROLLER_TLS_PIN_MISMATCH]');
    expect(result.err).toContain(pin);
    expect(result.err).toContain(wrong);
    expect(readdirSync(dir)).not.toContain('wrong.json');
  });

  it('says what to do when the certificate is met without a pin, and refuses a malformed pin', async () => {
    const config = join(dir, 'none.json');
    const none = await run({}, 'login', '--url', url, '--password', 'cli-password-1', '--config', config);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/error \[CLI_BAD_TLS\].*give --ca-sha256/);
    for (const bad of ['ab', 'z'.repeat(64), `${pin}00`, 'x'.repeat(10_000)]) {
      const result = await run(
        {},
        'login',
        '--url',
        url,
        '--password',
        'cli-password-1',
        '--ca-sha256',
        bad,
        '--config',
        config,
      );
      expect(result.code).toBe(1);
      expect(result.err).toContain('error [CLI_BAD_OPTION]');
    }
    expect(readdirSync(dir)).not.toContain('none.json');
  });

  it('logs in with the right pin (flag or CAPSULE_CA_SHA256), keeps it, and later commands pin it', async () => {
    const config = join(dir, 'good.json');
    const colons = `sha256:${pin.toUpperCase().match(/../g)!.join(':')}`;
    const flag = await run(
      {},
      'login',
      '--url',
      url,
      '--password',
      'cli-password-1',
      '--ca-sha256',
      colons,
      '--config',
      config,
    );
    expect(flag.code, flag.err).toBe(0);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toMatchObject({ url, caSha256: pin });
    const domains = await run({}, 'get', 'domains', '--config', config);
    expect(domains.code, domains.err).toBe(0);
    expect(domains.out).toContain('default');
    const fromEnv = await run(
      { CAPSULE_CA_SHA256: pin, CAPSULE_PASSWORD: 'cli-password-1' },
      'login',
      '--url',
      url,
      '--config',
      join(dir, 'env.json'),
    );
    expect(fromEnv.code, fromEnv.err).toBe(0);
  });
});
