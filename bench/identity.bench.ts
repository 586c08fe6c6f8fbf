/**
 * `npm run bench -- identity`: the costs of @capsule/identity — CGA modifier search (Sec 0/1/2),
 * SeND RSA-2048 signatures, Ed25519 flow authorizations, X25519 + HKDF, AEAD seal/open through
 * node:crypto for ChaCha20-Poly1305 and AES-256-GCM at 64 B and 1400 B (the measurement behind
 * AEAD_CIPHER), and the link MAC (link-mac.ts) against node:crypto's MAC-only AEAD calls by AAD
 * length (the measurement behind LINK_CIPHER and LINK_MAC_NATIVE_FROM_BYTES).
 */
import { type CipherGCMTypes, createCipheriv, randomBytes } from 'node:crypto';
import {
  AEAD_CIPHER,
  type AeadCipherName,
  ChaCha20Poly1305AadMac,
  computeLinkMac,
  deriveSessionKeys,
  exportPublicKeyDer,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  generateX25519KeyPair,
  LINK_CIPHER,
  LINK_MAC_NATIVE_FROM_BYTES,
  openLinkFrame,
  parseSubnetPrefix64,
  sealLinkFrame,
  searchCgaModifierSync,
  signFlowAuthorization,
  signSendMessage,
  verifyFlowAuthorization,
  verifyLinkMac,
  verifySendMessage,
} from '@capsule/identity';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const fmtMs = (ms: number) =>
  ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`;

/** Median latency (robust on a machine shared with other work) and the rate it implies. */
interface Row {
  name: string;
  medianMs: number;
  opsPerSecond: number;
}

async function measure(tasks: Record<string, () => void>, timeMs = 400): Promise<Row[]> {
  const bench = new Bench({ time: timeMs, warmupTime: 50 });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    return { name: task.name, medianMs: result.latency.p50, opsPerSecond: 1000 / result.latency.p50 };
  });
}

const LINK_MAC_BATCH = 200;
const LINK_MAC_AAD_BYTES = [0, 64, 104, 200, 400, 1024, 1416, 2048];

interface LinkMacRow {
  aadBytes: number;
  computeNs: number;
  verifyNs: number;
  pureNs: number;
  nodeChachaNs: number;
  nodeGcmNs: number;
}

/** The link MAC and node:crypto's MAC-only AEAD calls, ns per tag by AAD length (batches, median). */
async function measureLinkMac(key: Uint8Array): Promise<LinkMacRow[]> {
  const bench = new Bench({ time: 250, warmupTime: 50 });
  const mac = new ChaCha20Poly1305AadMac();
  const nonce = Buffer.alloc(12);
  const tag = new Uint8Array(16);
  let counter = 0;
  const nodeTag = (cipher: string, aad: Uint8Array) => {
    const object = createCipheriv(cipher as CipherGCMTypes, key, nonce, { authTagLength: 16 });
    object.setAAD(aad);
    object.final();
    return object.getAuthTag();
  };
  for (const length of LINK_MAC_AAD_BYTES) {
    const aad = randomBytes(length);
    const sealed = new Uint8Array(16);
    computeLinkMac(key, 12345, aad, 0, length, sealed, 0);
    nonce.writeUInt32BE(12345, 8); // the link nonce 0 ‖ counter for counter 12345
    if (!Buffer.from(sealed).equals(nodeTag('chacha20-poly1305', aad)))
      throw new Error(`link MAC differs from node:crypto at ${length} B`);
    nonce.fill(0);
    bench.add(`${length} compute`, () => {
      for (let i = 0; i < LINK_MAC_BATCH; i++) computeLinkMac(key, counter++, aad, 0, length, tag, 0);
    });
    bench.add(`${length} verify`, () => {
      for (let i = 0; i < LINK_MAC_BATCH; i++)
        if (!verifyLinkMac(key, 12345, aad, 0, length, sealed, 0)) throw new Error('link MAC did not verify');
    });
    bench.add(`${length} pure`, () => {
      for (let i = 0; i < LINK_MAC_BATCH; i++) mac.writeTag(key, nonce, aad, tag);
    });
    bench.add(`${length} node chacha`, () => {
      for (let i = 0; i < LINK_MAC_BATCH; i++) nodeTag('chacha20-poly1305', aad);
    });
    bench.add(`${length} node gcm`, () => {
      for (let i = 0; i < LINK_MAC_BATCH; i++) nodeTag('aes-256-gcm', aad);
    });
  }
  await bench.run();
  const ns = new Map(
    bench.tasks.map((task) => {
      const result = task.result;
      if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
      return [task.name, (result.latency.p50 * 1e6) / LINK_MAC_BATCH];
    }),
  );
  return LINK_MAC_AAD_BYTES.map((aadBytes) => ({
    aadBytes,
    computeNs: ns.get(`${aadBytes} compute`)!,
    verifyNs: ns.get(`${aadBytes} verify`)!,
    pureNs: ns.get(`${aadBytes} pure`)!,
    nodeChachaNs: ns.get(`${aadBytes} node chacha`)!,
    nodeGcmNs: ns.get(`${aadBytes} node gcm`)!,
  }));
}

function cgaSearch(publicKey: Uint8Array) {
  const prefix = parseSubnetPrefix64('2001:db8:1:2::/64');
  // Sec 0: no search, one Hash1.
  const sec0Runs = 200;
  let started = performance.now();
  for (let run = 0; run < sec0Runs; run += 1) generateCgaSync({ publicKey, subnetPrefix: prefix, sec: 0 });
  const sec0Ms = (performance.now() - started) / sec0Runs;
  // Sec 1: full searches from random modifiers.
  const sec1Runs = 24;
  let tries = 0;
  started = performance.now();
  for (let run = 0; run < sec1Runs; run += 1)
    tries += searchCgaModifierSync({ publicKey, sec: 1 }).iterations;
  const sec1Ms = (performance.now() - started) / sec1Runs;
  const sec1Tries = tries / sec1Runs;
  const perTryMs = (performance.now() - started) / tries;
  // Sec 2: expected 2^32 tries, hours on one core: measure the rate on a capped search and extrapolate.
  const capped = 2 ** 21;
  started = performance.now();
  let found = false;
  try {
    searchCgaModifierSync({ publicKey, sec: 2, maxIterations: capped });
    found = true;
  } catch {
    found = false;
  }
  const sec2PerTryMs = (performance.now() - started) / capped;
  return { sec0Ms, sec1Ms, sec1Tries, perTryMs, sec2PerTryMs, capped, found };
}

export async function run(): Promise<void> {
  const rsa = generateRsaKeyPair();
  const publicKeyDer = exportPublicKeyDer(rsa.publicKey);

  process.stdout.write('CGA search…\n');
  const cga = cgaSearch(publicKeyDer);
  const sec2ExpectedSeconds = (2 ** 32 * cga.sec2PerTryMs) / 1000;

  process.stdout.write('signatures, key agreement…\n');
  const source = randomBytes(16);
  const destination = randomBytes(16);
  const icmpMessage = new Uint8Array(24 + 8 + 296 + 16); // NS header + nonce + CGA option + timestamp
  icmpMessage[0] = 135;
  const signature = signSendMessage({ source, destination, icmpMessage, privateKey: rsa.privateKey });
  const controller = generateControllerKey();
  const body = {
    serial: 1n,
    notBefore: 0,
    notAfter: 0xffffffff,
    domainId: 1,
    contractId: 2,
    roleId: 3,
    sourceHostId: randomBytes(16),
    logicHash: randomBytes(32),
  };
  const authorization = signFlowAuthorization(body, controller);
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  const crypto = await measure({
    'SeND sign (RSA-2048, SHA-1)': () =>
      void signSendMessage({ source, destination, icmpMessage, privateKey: rsa.privateKey }),
    'SeND verify (RSA-2048, SHA-1)': () =>
      void verifySendMessage({ source, destination, icmpMessage, signature, publicKeyDer }),
    'flow authorization sign (Ed25519)': () => void signFlowAuthorization(body, controller),
    'flow authorization verify (Ed25519)': () =>
      void verifyFlowAuthorization(authorization, controller, 1000),
    'X25519 + HKDF-SHA256 (link keys)': () =>
      void deriveSessionKeys({
        privateKey: a.privateKey,
        peerPublicKey: b.publicKeyRaw,
        localNonce: source,
        peerNonce: destination,
        localHostId: source,
        peerHostId: destination,
      }),
  });

  process.stdout.write('AEAD…\n');
  const key = randomBytes(32);
  const header = randomBytes(16 + 40 + 48); // frame header, inner IPv6 header, capsule header
  const aeadTasks: Record<string, () => void> = {};
  const ciphers: AeadCipherName[] = ['chacha20-poly1305', 'aes-256-gcm'];
  for (const cipher of ciphers)
    for (const size of [64, 1400]) {
      const plaintext = randomBytes(size);
      const out = new Uint8Array(size + 16);
      let counter = 0n;
      sealLinkFrame(key, 0n, header, plaintext, out, 0, { cipher });
      const sealed = out.slice();
      aeadTasks[`${cipher} seal ${size} B`] = () => {
        counter += 1n;
        sealLinkFrame(key, counter, header, plaintext, out, 0, { cipher });
      };
      aeadTasks[`${cipher} open ${size} B`] = () => {
        if (!openLinkFrame(key, 0n, header, sealed, { cipher })) throw new Error('open failed');
      };
    }
  const aead = await measure(aeadTasks, 300);
  const aeadByName = new Map(aead.map((row) => [row.name, row]));
  const totals = { chacha: 0, gcm: 0 };
  for (const row of aead) totals[row.name.startsWith('aes') ? 'gcm' : 'chacha'] += row.medianMs;
  const aeadRows = [64, 1400].flatMap((size) =>
    (['seal', 'open'] as const).map((op) => {
      const chacha = aeadByName.get(`chacha20-poly1305 ${op} ${size} B`)!;
      const gcm = aeadByName.get(`aes-256-gcm ${op} ${size} B`)!;
      const gbps = (row: Row) => ((row.opsPerSecond * size * 8) / 1e9).toFixed(2);
      return [
        `${op} ${size} B`,
        `${fmtMs(chacha.medianMs)} (${gbps(chacha)} Gbit/s)`,
        `${fmtMs(gcm.medianMs)} (${gbps(gcm)} Gbit/s)`,
        gcm.medianMs < chacha.medianMs ? 'AES-256-GCM' : 'ChaCha20-Poly1305',
      ];
    }),
  );

  process.stdout.write('link MAC…\n');
  const linkMac = await measureLinkMac(key);

  const body_ = [
    '### CGA generation (RFC 3972), RSA-2048 public key',
    '',
    markdownTable(
      ['Sec', 'mean time', 'mean tries (Hash2)', 'how'],
      [
        ['0', fmtMs(cga.sec0Ms), '0', 'no search: one Hash1'],
        [
          '1',
          fmtMs(cga.sec1Ms),
          Math.round(cga.sec1Tries).toString(),
          `24 full searches from random modifiers (${(cga.perTryMs * 1000).toFixed(2)} µs a try; expected tries 2^16 = 65,536)`,
        ],
        [
          '2',
          `≈ ${(sec2ExpectedSeconds / 3600).toFixed(1)} h (extrapolated)`,
          '2^32 expected',
          `not run to the end: a capped search of 2^21 tries ${cga.found ? 'found one early' : 'measured'} ${(cga.sec2PerTryMs * 1000).toFixed(2)} µs a try on one core`,
        ],
      ],
    ),
    '',
    '### Signatures and key agreement',
    '',
    markdownTable(
      ['operation', 'median', 'ops/s (1 / median)'],
      crypto.map((row) => [
        row.name,
        fmtMs(row.medianMs),
        Math.round(row.opsPerSecond).toLocaleString('en-US'),
      ]),
    ),
    '',
    '### AEAD with a payload (node:crypto; 104 bytes of headers as AAD plus the payload)',
    '',
    markdownTable(
      ['operation (median, Gbit/s of payload)', 'ChaCha20-Poly1305', 'AES-256-GCM', 'faster'],
      aeadRows,
    ),
    '',
    `Sum of the four medians: ChaCha20-Poly1305 ${fmtMs(totals.chacha)}, AES-256-GCM ${fmtMs(totals.gcm)} (${totals.gcm < totals.chacha ? 'AES-256-GCM' : 'ChaCha20-Poly1305'} faster).`,
    '',
    `AEAD_CIPHER (e2e payloads) in packages/identity/src/aead.ts is \`${AEAD_CIPHER}\`. With a payload both`,
    'go through node:crypto; LINK_CIPHER is chosen by the next table.',
    '',
    '### Link MAC (DATA frame tag: AAD = headers, empty plaintext)',
    '',
    `ns per tag, the median of batches of ${LINK_MAC_BATCH}. \`computeLinkMac\`/\`verifyLinkMac\` are the link-frame`,
    'path (link-mac.ts: ChaCha20-Poly1305 in TypeScript, no allocation; the counter a number); "pure TS" is',
    `the TypeScript code alone at every length (the functions hand AADs over ${LINK_MAC_NATIVE_FROM_BYTES} bytes to node:crypto);`,
    'the node:crypto columns are one cipher object per tag (createCipheriv, setAAD, final, getAuthTag), as',
    'link frames were sealed before. 104 B is a type III frame (frame 16 + IPv6 40 + capsule 48).',
    '',
    markdownTable(
      [
        'AAD',
        'computeLinkMac',
        'verifyLinkMac',
        'pure TS tag',
        'node:crypto ChaCha20-Poly1305',
        'node:crypto AES-256-GCM',
        'speed-up (compute vs node ChaCha)',
      ],
      linkMac.map((row) => [
        `${row.aadBytes} B`,
        `${row.computeNs.toFixed(0)} ns`,
        `${row.verifyNs.toFixed(0)} ns`,
        `${row.pureNs.toFixed(0)} ns`,
        `${row.nodeChachaNs.toFixed(0)} ns`,
        `${row.nodeGcmNs.toFixed(0)} ns`,
        `${(row.nodeChachaNs / row.computeNs).toFixed(1)}×`,
      ]),
    ),
    '',
    `LINK_CIPHER (link frames) is \`${LINK_CIPHER}\`.`,
  ].join('\n');
  process.stdout.write(`${body_}\n`);
  writePerformanceSection(
    'identity',
    'Identity: CGA, signatures, key agreement, AEAD',
    'npm run bench -- identity',
    body_,
  );
}
