/**
 * The controller's ports: what it needs from outside, injected by whoever creates it (the CLI,
 * a test, the lab). The identity and VM ports are implemented over @capsule/identity and
 * @capsule/vm in `identity-port.ts` / `program-verifier.ts`. Its clock is @capsule/wire's `Clock`
 * (only `nowMs`).
 */
import type { ControllerKeyInfo } from '@capsule/api';

/** The result of verifying a registering node's CGA and signature. */
export type NodeProofCheck =
  | { ok: true }
  | { ok: false; code: 'CGA_INVALID' | 'SIGNATURE_INVALID' | 'WEAK_KEY'; reason: string };

/** What a node certificate states (the controller signs it). */
export interface NodeCertificateFields {
  nodeType: 'host' | 'engine';
  serial: bigint;
  notBeforeMs: number;
  notAfterMs: number;
  zoneId: number;
  hostId: Uint8Array;
  x25519PublicKey: Uint8Array;
  rsaPublicKeyDer: Uint8Array;
  name: string;
}

/** What a flow authorization states (the controller signs it; the AUTH chunk value). */
export interface FlowAuthorizationFields {
  serial: bigint;
  notBeforeMs: number;
  notAfterMs: number;
  domainId: number;
  contractId: number;
  roleId: number;
  sourceHostId: Uint8Array;
  logicHash: Uint8Array;
}

/** The controller's signing identity and the node-proof checks, over @capsule/identity. */
export interface ControllerIdentity {
  /** The Ed25519 public key (32 raw bytes) of the key that signs now (a rotation changes it). */
  readonly publicKey: Uint8Array;
  /** That key's 16-bit key id. */
  readonly keyId: number;
  /** The keys nodes must trust now (registration and keep-alive answers): signing-key.ts's ring. */
  trustedKeys(): ControllerKeyInfo[];
  /**
   * Checks that `hostId` is the CGA of `cgaParameters` (RFC 3972 section 5), that the key in the
   * parameters is `rsaPublicKeyDer`, and that `signature` is its RSA signature over `signedData`
   * (the RSA check runs on libuv's thread pool, off the event loop).
   */
  checkNodeProof(proof: {
    hostId: Uint8Array;
    cgaParameters: Uint8Array;
    rsaPublicKeyDer: Uint8Array;
    signedData: Uint8Array;
    signature: Uint8Array;
  }): Promise<NodeProofCheck>;
  /** Encodes and signs a node certificate (the signature is made on libuv's thread pool). */
  issueNodeCertificate(fields: NodeCertificateFields): Promise<Uint8Array>;
  /** Encodes and signs a flow authorization (148 bytes). */
  issueFlowAuthorization(fields: FlowAuthorizationFields): Uint8Array;
}

/** Verifies a template's program (code and entry offsets) before the controller stores it. */
export interface ProgramVerifier {
  verify(code: Uint8Array, entryOffsets: readonly number[]): { ok: true } | { ok: false; problems: string[] };
}
