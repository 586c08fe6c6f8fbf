import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  const io = createRecordingIo({ cwd: dir });
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** RFC 3972 Appendix A's public key (DER SubjectPublicKeyInfo) and final modifier. */
const appendixKey =
  '305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530e9211a4b262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf0203010001';
const appendixModifier = '89a8a8b2e858d8b8f2633f44d2d4ce9b';

describe('capsule identity keygen', () => {
  it('writes the four files, private keys readable by the owner only', async () => {
    const result = await run('identity', 'keygen', '--hostname', 'agent-1.lab', '--out', 'keys');
    expect(result.code).toBe(0);
    for (const name of ['rsa-key.pem', 'rsa-public.pem', 'cert.pem', 'x25519-key.pem'])
      expect(result.out).toContain(join(dir, 'keys', name));
    expect(readFileSync(join(dir, 'keys', 'cert.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(readFileSync(join(dir, 'keys', 'rsa-public.pem'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    expect(statSync(join(dir, 'keys', 'rsa-key.pem')).mode & 0o077).toBe(0);
    expect(statSync(join(dir, 'keys', 'x25519-key.pem')).mode & 0o077).toBe(0);
  });

  it('refuses to overwrite without --force, replaces with it', async () => {
    const before = readFileSync(join(dir, 'keys', 'rsa-key.pem'), 'utf8');
    const refused = await run('identity', 'keygen', '--hostname', 'agent-1.lab', '--out', 'keys');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/error \[IDENTITY_FILE_EXISTS\]/);
    expect(readFileSync(join(dir, 'keys', 'rsa-key.pem'), 'utf8')).toBe(before);
    const forced = await run('identity', 'keygen', '--hostname', 'agent-1.lab', '--out', 'keys', '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'keys', 'rsa-key.pem'), 'utf8')).not.toBe(before);
  });
});

describe('capsule identity cga', () => {
  writeFileSync(join(dir, 'appendix-a.der'), Buffer.from(appendixKey, 'hex'));

  it('reproduces RFC 3972 Appendix A from its key and final modifier (--json)', async () => {
    const result = await run(
      'identity',
      'cga',
      '--key',
      'appendix-a.der',
      '--prefix',
      'fe80::',
      '--sec',
      '1',
      '--modifier',
      appendixModifier,
      '--json',
    );
    expect(result.code).toBe(0);
    const json = JSON.parse(result.out);
    expect(json).toEqual({
      address: 'fe80::3c4a:5bf6:ffb4:ca6c',
      modifier: appendixModifier,
      collisionCount: 0,
      sec: 1,
      parameters: `${appendixModifier}fe8000000000000000${appendixKey}`,
    });
  });

  it('searches a modifier for the keygen key, and cga-verify accepts the result', async () => {
    const made = await run(
      'identity',
      'cga',
      '--key',
      'keys/rsa-public.pem',
      '--prefix',
      '2001:db8:1:2::/64',
      '--sec',
      '1',
      '--json',
    );
    expect(made.code).toBe(0);
    const json = JSON.parse(made.out) as { address: string; parameters: string; sec: number };
    expect(json.address.startsWith('2001:db8:1:2:')).toBe(true);
    expect(json.sec).toBe(1);
    const verified = await run(
      'identity',
      'cga-verify',
      '--address',
      json.address,
      '--parameters',
      json.parameters,
    );
    expect(verified).toMatchObject({ code: 0, out: 'ok (Sec 1)\n' });
    const text = await run(
      'identity',
      'cga',
      '--key',
      'keys/rsa-public.pem',
      '--prefix',
      'fe80::',
      '--sec',
      '0',
    );
    expect(text.out).toMatch(/^address {10}fe80::/);
  });

  it('cga-verify prints the failure reason and exits 1', async () => {
    const parameters = `${appendixModifier}fe8000000000000000${appendixKey}`;
    const wrong = await run(
      'identity',
      'cga-verify',
      '--address',
      'fe80::3c4a:5bf6:ffb4:ca6d',
      '--parameters',
      parameters,
    );
    expect(wrong).toMatchObject({ code: 1, out: 'failed: hash1-mismatch\n' });
    const prefix = await run(
      'identity',
      'cga-verify',
      '--address',
      '2001:db8::3c4a:5bf6:ffb4:ca6c',
      '--parameters',
      parameters,
    );
    expect(prefix).toMatchObject({ code: 1, out: 'failed: prefix-mismatch\n' });
  });

  it('gives a clear CapsuleError for bad input', async () => {
    const cases: [string[], string][] = [
      [['identity', 'cga', '--key', 'missing.pem', '--prefix', 'fe80::'], 'IDENTITY_READ_FAILED'],
      [['identity', 'cga', '--key', 'appendix-a.der', '--prefix', '2001:db8::/48'], 'CGA_INVALID_PREFIX'],
      [['identity', 'cga', '--key', 'appendix-a.der', '--prefix', '2001:db8::1'], 'CGA_INVALID_PREFIX'],
      [['identity', 'cga', '--key', 'appendix-a.der', '--prefix', 'fe80::', '--sec', '8'], 'CGA_INVALID_SEC'],
      [
        ['identity', 'cga', '--key', 'appendix-a.der', '--prefix', 'fe80::', '--modifier', 'xyz'],
        'CGA_INVALID_MODIFIER',
      ],
      [
        ['identity', 'cga', '--key', 'appendix-a.der', '--prefix', 'fe80::', '--modifier', 'abcd'],
        'CGA_INVALID_MODIFIER',
      ],
      [
        ['identity', 'cga', '--key', 'appendix-a.der', '--prefix', 'fe80::', '--collision-count', '3'],
        'CGA_INVALID_COLLISION_COUNT',
      ],
      [['identity', 'cga', '--key', 'ed25519.pem', '--prefix', 'fe80::'], 'IDENTITY_WRONG_KEY_TYPE'],
      [['identity', 'cga', '--key', 'garbage.pem', '--prefix', 'fe80::'], 'IDENTITY_INVALID_KEY'],
      [
        [
          'identity',
          'cga',
          '--key',
          'appendix-a.der',
          '--prefix',
          'fe80::',
          '--sec',
          '7',
          '--max-iterations',
          '1000',
        ],
        'CGA_SEARCH_EXHAUSTED',
      ],
      [['identity', 'cga-verify', '--address', 'fe80::1', '--parameters', 'zz'], 'CGA_INVALID_PARAMETERS'],
      [['identity', 'cga-verify', '--address', 'nope', '--parameters', '00'], 'CGA_INVALID_ADDRESS'],
    ];
    writeFileSync(
      join(dir, 'ed25519.pem'),
      generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    );
    writeFileSync(join(dir, 'garbage.pem'), 'not a key');
    for (const [argv, code] of cases) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.err, argv.join(' ')).toContain(`error [${code}]`);
    }
  });
});
