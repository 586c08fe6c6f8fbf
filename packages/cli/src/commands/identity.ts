import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CGA_MAX_COLLISION_COUNT,
  CGA_MAX_SEC,
  createSelfSignedCertificate,
  exportPrivateKeyPem,
  exportPublicKeyDer,
  exportPublicKeyPem,
  formatIpv6Address,
  generateCga,
  generateRsaKeyPairAsync,
  generateX25519KeyPair,
  importRsaPublicKey,
  parseIpv6Address,
  parseSubnetPrefix64,
  verifyCga,
} from '@capsule/identity';
import type { Command } from 'commander';
import { CliError, type CliErrorCode } from '../errors';
import type { CliIo } from '../io';

/** The files `capsule identity keygen` writes, in DIR. */
export const identityKeyFiles = {
  rsaPrivateKey: 'rsa-key.pem',
  rsaPublicKey: 'rsa-public.pem',
  certificate: 'cert.pem',
  x25519PrivateKey: 'x25519-key.pem',
} as const;

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function parseHex(text: string, what: string, code: CliErrorCode, length?: number): Uint8Array {
  const clean = text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean) || clean.length === 0)
    throw new CliError(code, `${what} is not hex: ${JSON.stringify(text)}`);
  const bytes = new Uint8Array(Buffer.from(clean, 'hex'));
  if (length !== undefined && bytes.length !== length)
    throw new CliError(
      code,
      `${what} must be ${length} bytes (${length * 2} hex digits), not ${bytes.length}`,
    );
  return bytes;
}

function parseIntegerOption(text: string, what: string, code: CliErrorCode, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > max)
    throw new CliError(code, `${what} must be an integer 0..${max}, not ${JSON.stringify(text)}`);
  return Number(text);
}

function readInput(io: CliIo, file: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, file));
  } catch (error) {
    throw new CliError('IDENTITY_READ_FAILED', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** `capsule identity …`: node keys, self-signed certificate, CGA generation and verification. */
export function registerIdentityCommands(program: Command, io: CliIo): void {
  const identity = program
    .command('identity')
    .description('node keys, certificates and CGA addresses (RFC 3972)');

  identity
    .command('keygen')
    .description('write an RSA-2048 key pair, a self-signed certificate (CN = host name) and an X25519 key')
    .requiredOption('--hostname <name>', 'host name: certificate subject CN and subjectAltName')
    .requiredOption('--out <dir>', 'directory to write rsa-key.pem, rsa-public.pem, cert.pem, x25519-key.pem')
    .option('--force', 'overwrite existing files')
    .action(async (options: { hostname: string; out: string; force?: boolean }) => {
      const dir = resolve(io.cwd, options.out);
      const paths = Object.values(identityKeyFiles).map((name) => join(dir, name));
      const existing = paths.filter((path) => existsSync(path));
      if (existing.length > 0 && !options.force)
        throw new CliError(
          'IDENTITY_FILE_EXISTS',
          `refusing to overwrite ${existing.join(', ')} (use --force to replace the keys)`,
        );
      const rsa = await generateRsaKeyPairAsync();
      const certificate = await createSelfSignedCertificate(rsa, { hostName: options.hostname });
      const x25519 = generateX25519KeyPair();
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, identityKeyFiles.rsaPrivateKey), exportPrivateKeyPem(rsa.privateKey), {
          mode: 0o600,
        });
        writeFileSync(join(dir, identityKeyFiles.rsaPublicKey), exportPublicKeyPem(rsa.publicKey));
        writeFileSync(join(dir, identityKeyFiles.certificate), certificate);
        writeFileSync(
          join(dir, identityKeyFiles.x25519PrivateKey),
          x25519.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
          { mode: 0o600 },
        );
      } catch (error) {
        throw new CliError(
          'IDENTITY_WRITE_FAILED',
          `cannot write keys to ${dir}: ${(error as Error).message}`,
        );
      }
      for (const path of paths) io.out(`wrote ${path}\n`);
    });

  identity
    .command('cga')
    .description(
      'make a CGA (RFC 3972) from a public key and a /64 prefix; searches the modifier unless given',
    )
    .requiredOption('--key <file>', 'RSA public key: PEM or DER SubjectPublicKeyInfo')
    .requiredOption('--prefix <prefix>', 'IPv6 /64 subnet prefix, e.g. fe80:: or 2001:db8:1:2::/64')
    .option('--sec <n>', 'security parameter 0..7 (cost 2^(16·Sec) tries)', '1')
    .option('--modifier <hex32>', 'use this 16-byte modifier (32 hex digits) and skip the search')
    .option('--collision-count <c>', 'collision count 0..2', '0')
    .option('--max-iterations <n>', 'give up the search after this many tries')
    .option('--json', 'print {"address","modifier","collisionCount","sec","parameters"}')
    .action(
      async (options: {
        key: string;
        prefix: string;
        sec: string;
        modifier?: string;
        collisionCount: string;
        maxIterations?: string;
        json?: boolean;
      }) => {
        const sec = parseIntegerOption(options.sec, '--sec', 'CGA_INVALID_SEC', CGA_MAX_SEC);
        const collisionCount = parseIntegerOption(
          options.collisionCount,
          '--collision-count',
          'CGA_INVALID_COLLISION_COUNT',
          CGA_MAX_COLLISION_COUNT,
        );
        const subnetPrefix = parseSubnetPrefix64(options.prefix);
        const modifier =
          options.modifier === undefined
            ? undefined
            : parseHex(options.modifier, '--modifier', 'CGA_INVALID_MODIFIER', 16);
        const maxIterations =
          options.maxIterations === undefined
            ? undefined
            : parseIntegerOption(
                options.maxIterations,
                '--max-iterations',
                'IDENTITY_INVALID_ARGUMENT',
                2 ** 52,
              );
        const keyBytes = readInput(io, options.key);
        const text = keyBytes.toString('latin1');
        const publicKey = exportPublicKeyDer(
          importRsaPublicKey(text.includes('-----BEGIN ') ? text : keyBytes),
        );
        const started = Date.now();
        let progressShown = false;
        const cga = await generateCga({
          publicKey,
          subnetPrefix,
          sec,
          collisionCount,
          modifier,
          maxIterations,
          progressEveryIterations: 65_536,
          onProgress: io.isTty
            ? ({ iterations }) => {
                const seconds = (Date.now() - started) / 1000;
                const rate = seconds > 0 ? Math.round(iterations / seconds) : 0;
                io.err(
                  `\rsearching a Sec ${sec} modifier: ${iterations} tries, ${rate}/s, expected ~2^${16 * sec}`,
                );
                progressShown = true;
              }
            : undefined,
        });
        if (progressShown) io.err('\n');
        const result = {
          address: formatIpv6Address(cga.address),
          modifier: hexOf(cga.parameters.modifier),
          collisionCount: cga.parameters.collisionCount,
          sec: cga.sec,
          parameters: hexOf(cga.parametersBytes),
        };
        if (options.json) {
          io.out(`${JSON.stringify(result)}\n`);
          return;
        }
        io.out(`address          ${result.address}\n`);
        io.out(`sec              ${result.sec}\n`);
        io.out(`modifier         ${result.modifier}\n`);
        io.out(`collision count  ${result.collisionCount}\n`);
        if (modifier === undefined)
          io.out(`search           ${cga.iterations} tries in ${Date.now() - started} ms\n`);
        io.out(`parameters       ${result.parameters}\n`);
      },
    );

  identity
    .command('cga-verify')
    .description('verify a CGA against its CGA Parameters (RFC 3972 section 5); exit 0 when it verifies')
    .requiredOption('--address <ipv6>', 'the CGA')
    .requiredOption('--parameters <hex>', 'the whole CGA Parameters structure, hex')
    .action((options: { address: string; parameters: string }) => {
      const address = parseIpv6Address(options.address);
      if (!address)
        throw new CliError('CGA_INVALID_ADDRESS', `not an IPv6 address: ${JSON.stringify(options.address)}`);
      const parameters = parseHex(options.parameters, '--parameters', 'CGA_INVALID_PARAMETERS');
      const result = verifyCga(address, parameters);
      if (result.ok) {
        io.out(`ok (Sec ${result.sec})\n`);
        return;
      }
      io.out(`failed: ${result.reason}\n`);
      io.exitCode = 1;
    });
}
