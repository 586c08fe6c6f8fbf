/**
 * The seed's "RSA and CGA Management": the agent's RSA pair, its self-signed certificate (subject =
 * host name), its X25519 key and its CGA host id, kept in an IdentityStore (the CLI's is a file in
 * the data dir) so a restart keeps them.
 *
 * Start-up order (seed, "Module Logic"): `ensureHostKeys` before the REST server starts (host-name
 * check, keys, certificate), `ensureCga` after login, once the profile gave the netprefix.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import {
  type Cga,
  checkHostCertificate,
  createSelfSignedCertificate,
  decideRsaKeys,
  exportPrivateKeyPem,
  exportPublicKeyDer,
  exportX25519PublicKeyRaw,
  formatIpv6Address,
  generateCga,
  generateRsaKeyPairAsync,
  generateX25519KeyPair,
  importRsaPrivateKey,
  parseIpv6Address,
  parseSubnetPrefix64,
  verifyCga,
} from '@capsule/identity';
import { AgentError } from './errors';

/** What the agent persists (plain JSON; PEM keys, base64 CGA parameters). */
export interface PersistedIdentity {
  /** The host name the keys and certificate were made for. */
  hostName: string;
  rsaPrivateKeyPem: string;
  certificatePem: string;
  x25519PrivateKeyPem: string;
  cga?: { address: string; parameters: string; netprefix: string; sec: number };
  /**
   * The endpoints the applications registered and did not unregister (each with its service
   * token: the file is 0600), registered again at the next start so traffic resumes by itself.
   */
  endpoints?: { serviceToken: string; contract: string; role: string }[];
}

/** Where the identity lives between runs (a port: the CLI implements it with a 0600 file). */
export interface IdentityStore {
  load(): Promise<PersistedIdentity | undefined>;
  save(identity: PersistedIdentity): Promise<void>;
}

/** An IdentityStore in memory (tests, and agents that must not persist). */
export function createMemoryIdentityStore(initial?: PersistedIdentity): IdentityStore & {
  current: PersistedIdentity | undefined;
  saves: number;
} {
  const store = {
    current: initial ? structuredClone(initial) : undefined,
    saves: 0,
    load: async () => (store.current ? structuredClone(store.current) : undefined),
    save: async (identity: PersistedIdentity) => {
      store.current = structuredClone(identity);
      store.saves += 1;
    },
  };
  return store;
}

/** The agent's keys in memory. */
export interface HostKeys {
  hostName: string;
  rsaPrivateKey: KeyObject;
  rsaPublicKey: KeyObject;
  /** DER SubjectPublicKeyInfo: the CGA's public key. */
  rsaPublicKeyDer: Uint8Array;
  certificatePem: string;
  x25519PrivateKey: KeyObject;
  x25519PublicKeyRaw: Uint8Array;
}

/** Why keys or CGA were (re)made at start-up; `kept` when the stored ones were fine. */
export type IdentityEvent =
  | { kind: 'keys'; outcome: 'kept' | 'generated'; reason?: string }
  | { kind: 'certificate'; outcome: 'kept' | 'generated'; reason?: string }
  | { kind: 'cga'; outcome: 'kept' | 'generated'; reason?: string };

/** The CGA host id. */
export interface HostCga {
  address: Uint8Array;
  addressText: string;
  parametersBytes: Uint8Array;
  sec: number;
}

/**
 * The seed's host-name check and key rule: regenerate RSA (and X25519) keys when the host name
 * changed or keys are missing (the CGA goes with them); re-issue the self-signed certificate when
 * it does not match the name and key or has expired. Saves when anything changed.
 */
export async function ensureHostKeys(
  store: IdentityStore,
  hostName: string,
  onEvent: (event: IdentityEvent) => void = () => {},
): Promise<{ keys: HostKeys; persisted: PersistedIdentity }> {
  let persisted = await store.load();
  let changed = false;
  let rsaPrivateKey: KeyObject | undefined;
  if (persisted) {
    try {
      rsaPrivateKey = importRsaPrivateKey(persisted.rsaPrivateKeyPem);
      createPrivateKey(persisted.x25519PrivateKeyPem);
    } catch {
      rsaPrivateKey = undefined;
    }
  }
  const decision = decideRsaKeys({
    configuredHostName: persisted?.hostName,
    actualHostName: hostName,
    hasKeys: rsaPrivateKey !== undefined,
  });
  if (decision === 'regenerate' || !persisted || !rsaPrivateKey) {
    const reason = !persisted
      ? 'no stored keys'
      : persisted.hostName !== hostName
        ? `host name changed from ${persisted.hostName} to ${hostName}`
        : 'stored keys unreadable';
    const rsa = await generateRsaKeyPairAsync();
    const x25519 = generateX25519KeyPair();
    rsaPrivateKey = rsa.privateKey;
    // New keys wipe the CGA (it is a hash of the old key).
    persisted = {
      hostName,
      rsaPrivateKeyPem: exportPrivateKeyPem(rsa.privateKey),
      certificatePem: '',
      x25519PrivateKeyPem: x25519.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
    changed = true;
    onEvent({ kind: 'keys', outcome: 'generated', reason });
  } else {
    onEvent({ kind: 'keys', outcome: 'kept' });
  }
  const rsaPublicKey = createPublicKey(rsaPrivateKey);
  // No stored certificate (first start, new keys) is its own reason, not a "malformed" one.
  const check = persisted.certificatePem
    ? await checkHostCertificate(persisted.certificatePem, { hostName, publicKey: rsaPublicKey })
    : ({ ok: false, problem: 'no stored certificate' } as const);
  if (!check.ok) {
    persisted.certificatePem = await createSelfSignedCertificate(
      { privateKey: rsaPrivateKey, publicKey: rsaPublicKey },
      { hostName },
    );
    changed = true;
    onEvent({ kind: 'certificate', outcome: 'generated', reason: check.problem });
  } else {
    onEvent({ kind: 'certificate', outcome: 'kept' });
  }
  if (changed) await store.save(persisted);
  const x25519PrivateKey = createPrivateKey(persisted.x25519PrivateKeyPem);
  return {
    persisted,
    keys: {
      hostName,
      rsaPrivateKey,
      rsaPublicKey,
      rsaPublicKeyDer: exportPublicKeyDer(rsaPublicKey),
      certificatePem: persisted.certificatePem,
      x25519PrivateKey,
      x25519PublicKeyRaw: exportX25519PublicKeyRaw(x25519PrivateKey),
    },
  };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((byte, index) => byte === b[index]);

/**
 * The seed's CGA rule: keep the stored CGA when it verifies (RFC 3972 section 5), is under the
 * profile's netprefix and holds our public key; otherwise generate a new one (section 4) and save.
 */
export async function ensureCga(
  store: IdentityStore,
  persisted: PersistedIdentity,
  keys: HostKeys,
  netprefix: string,
  options: { sec: number; signal?: AbortSignal },
  onEvent: (event: IdentityEvent) => void = () => {},
): Promise<HostCga> {
  const prefix = parseSubnetPrefix64(netprefix);
  const stored = persisted.cga;
  let reason = 'no stored CGA';
  if (stored) {
    const address = parseIpv6Address(stored.address);
    const parametersBytes = new Uint8Array(Buffer.from(stored.parameters, 'base64'));
    const verification = address ? verifyCga(address, parametersBytes) : undefined;
    if (!address || !verification) reason = 'stored CGA address unreadable';
    else if (!verification.ok) reason = `stored CGA does not verify (${verification.reason})`;
    else if (!sameBytes(address.subarray(0, 8), prefix)) reason = `netprefix changed to ${netprefix}`;
    else if (!sameBytes(verification.parameters.publicKey, keys.rsaPublicKeyDer))
      reason = 'stored CGA belongs to another key';
    else {
      onEvent({ kind: 'cga', outcome: 'kept' });
      return { address, addressText: formatIpv6Address(address), parametersBytes, sec: verification.sec };
    }
  }
  let cga: Cga;
  try {
    cga = await generateCga({
      publicKey: keys.rsaPublicKeyDer,
      sec: options.sec,
      subnetPrefix: prefix,
      signal: options.signal,
    });
  } catch (cause) {
    throw new AgentError('AGENT_CGA_FAILED', `cannot generate a CGA: ${(cause as Error).message}`, {
      cause,
    });
  }
  const addressText = formatIpv6Address(cga.address);
  persisted.cga = {
    address: addressText,
    parameters: Buffer.from(cga.parametersBytes).toString('base64'),
    netprefix,
    sec: cga.sec,
  };
  await store.save(persisted);
  onEvent({ kind: 'cga', outcome: 'generated', reason });
  return { address: cga.address, addressText, parametersBytes: cga.parametersBytes, sec: cga.sec };
}
