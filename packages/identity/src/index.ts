/**
 * @capsule/identity — keys, CGA (RFC 3972), SeND signatures (RFC 3971), the controller's Ed25519
 * signatures (node certificates, flow authorizations, program images), link/e2e keys and AEAD.
 * Pure: node:crypto and @peculiar/x509 only, no file or network I/O. Verification of untrusted
 * input returns a result value and never throws; misuse throws IdentityError (a CapsuleError).
 */

/** The AEAD choices (link frames, e2e payloads) and sizes. */
/** Link-frame seal/open (MAC over headers, optional payload). */
export {
  AEAD_CIPHER,
  AEAD_KEY_LENGTH,
  AEAD_TAG_LENGTH,
  type AeadCipherName,
  type AeadOptions,
  LINK_CIPHER,
  openLinkFrame,
  sealLinkFrame,
} from './aead';
/** Self-signed X.509 certificate with CN = subjectAltName DNS = host name. */
/** Does a stored certificate match this host name and key (and is it valid)? */
/** The seed's rule: regenerate RSA keys when the host name changed or keys are missing. */
export {
  checkHostCertificate,
  createSelfSignedCertificate,
  decideRsaKeys,
  type HostCertificateCheck,
  type HostCertificateProblem,
  type RsaKeyDecision,
  type SelfSignedCertificateOptions,
} from './certificate';
// CGA (RFC 3972)
/** The CGA Parameters structure, its codec and the shared decode result type. */
/** CGA constants: public key offset (25), Sec limit (7), collision count limit (2). */
/** Hash1 and Hash2 of RFC 3972 section 3. */
/** The address of given parameters and Sec (no search), and an address's Sec. */
/** The modifier search (section 4 steps 1-3): async (yields, progress, abort) and sync, with an iteration cap. */
/** CGA generation (searching, or with a given modifier). */
/** CGA verification (section 5, every step). */
export {
  CGA_MAX_COLLISION_COUNT,
  CGA_MAX_SEC,
  CGA_PUBLIC_KEY_OFFSET,
  type Cga,
  type CgaParameters,
  type CgaSearchOptions,
  type CgaSearchProgress,
  type CgaSearchResult,
  type CgaVerification,
  type CgaVerificationFailure,
  cgaAddress,
  cgaHash1,
  cgaHash2,
  cgaParametersLength,
  cgaParametersToBytes,
  cgaSec,
  decodeCgaParameters,
  defaultCgaMaxIterations,
  encodeCgaParameters,
  type GenerateCgaOptions,
  generateCga,
  generateCgaSync,
  searchCgaModifier,
  searchCgaModifierSync,
  verifyCga,
} from './cga';
// Controller signatures (Ed25519)
/** The controller's signing key: generate, import/export, 16-bit key id. */
/** Raw Ed25519 sign/verify (verify never throws). */
/** The keys a verifier trusts during a rotation (each with its end of validity) and the lookup by key id. */
export {
  type ControllerKeys,
  type ControllerPublicKey,
  type ControllerSigningKey,
  controllerKeyFor,
  controllerKeyId,
  controllerKeyList,
  exportControllerPrivateKeyPem,
  exportControllerPublicKeyPem,
  exportEd25519PublicKeyRaw,
  generateControllerKey,
  importControllerPrivateKey,
  importControllerPublicKey,
  type SignedStructureFailure,
  signEd25519,
  type TrustedControllerKey,
  verifyEd25519,
} from './controller-key';
// Errors
/** The error this package throws, with its stable codes. */
export { IdentityError, type IdentityErrorCode } from './errors';
/** Flow authorization (the AUTH chunk value, 148 bytes): codec, sign, verify. */
export {
  type ControllerSignatureCheck,
  checkFlowAuthorization,
  decodeFlowAuthorization,
  encodeFlowAuthorization,
  FLOW_AUTHORIZATION_LENGTH,
  FLOW_AUTHORIZATION_SIGNED_LENGTH,
  FLOW_AUTHORIZATION_VERSION,
  type FlowAuthorization,
  type FlowAuthorizationBody,
  FlowAuthorizationOffset,
  type FlowAuthorizationVerification,
  SIGNATURE_ALGORITHM_ED25519,
  signFlowAuthorization,
  verifyFlowAuthorization,
} from './flow-authorization';
// Group keys of role-addressed traffic
/** The group secret (controller, per contract role and epoch) and each sender's key derived from it. */
export {
  deriveGroupSenderKey,
  GROUP_EPOCH_MAX,
  GROUP_KEY_LABEL,
  GROUP_KEY_LENGTH,
  generateGroupSecret,
} from './group-keys';
// IPv6 text
/** IPv6 address text → 16 bytes (undefined when not an address). */
/** 16 bytes → RFC 5952 text. */
/** `fe80::` / `2001:db8:1:2::/64` → the 8-byte subnet prefix (throws CGA_INVALID_PREFIX). */
export { formatIpv6Address, parseIpv6Address, parseSubnetPrefix64 } from './ipv6-address';
// Link and e2e keys, AEAD
/** X25519 key pairs and raw public key import/export. */
/** HKDF-SHA256 directional session keys (link or e2e) and their rotation; e2e keys by epoch. */
export {
  deriveE2eEpochKey,
  deriveSessionKeys,
  E2E_EPOCH_LABEL,
  E2E_EPOCH_MAX,
  E2E_KEY_LABEL,
  exportX25519PublicKeyRaw,
  generateX25519KeyPair,
  importX25519PublicKeyRaw,
  isWeakX25519PublicKey,
  LINK_KEY_LABEL,
  rotateSessionKeys,
  type SessionKeyInput,
  type SessionKeys,
  type X25519KeyPair,
} from './link-keys';
/** The link MAC: the ChaCha20-Poly1305 tag over AAD with an empty plaintext, in TypeScript, allocation-free. */
/** Compute/verify the link MAC of a DATA frame with a number counter (nonce 0 ‖ counter). */
/** AADs above this length are tagged by node:crypto instead (same tag; faster there). */
export {
  ChaCha20Poly1305AadMac,
  computeLinkMac,
  LINK_MAC_NATIVE_FROM_BYTES,
  verifyLinkMac,
} from './link-mac';
/** Node certificate: codec, sign, verify, the RSA key hash field, its binding to a SeND sender, when to renew it. */
export {
  decodeNodeCertificate,
  encodeNodeCertificate,
  NODE_CERTIFICATE_MAX_NAME_BYTES,
  NODE_CERTIFICATE_RENEW_AT,
  NODE_CERTIFICATE_VERSION,
  type NodeCertificate,
  type NodeCertificateBody,
  type NodeCertificateVerification,
  NodeType,
  type NodeTypeValue,
  nodeCertificateLength,
  nodeCertificateRenewalDueMs,
  rsaKeyHash,
  signNodeCertificate,
  verifyNodeCertificate,
} from './node-certificate';
/** The e2e payload seal: the PayloadCipher port (seal/open into caller buffers) and its node:crypto implementation. */
/** One-shot e2e payload seal/open (bigint counters, a choice of cipher, the key chosen by epoch) and the overhead. */
export {
  createNodePayloadCipher,
  E2E_SEAL_OVERHEAD,
  type OpenPayloadResult,
  openPayload,
  type PayloadCipher,
  sealPayload,
} from './payload-cipher';
// RSA keys and the self-signed certificate
/** RSA-2048 key pair generation (sync and async) and the modulus size. */
/** PEM/DER export: PKCS#8 private key, SPKI public key, SPKI DER (the CGA "public key"). */
/** PEM/DER import of RSA keys (throws IDENTITY_INVALID_KEY / IDENTITY_WRONG_KEY_TYPE). */
export {
  exportPrivateKeyPem,
  exportPublicKeyDer,
  exportPublicKeyPem,
  generateRsaKeyPair,
  generateRsaKeyPairAsync,
  importRsaPrivateKey,
  importRsaPublicKey,
  RSA_MODULUS_BITS,
  type RsaKeyPair,
} from './rsa-keys';
/** RFC 3971 5.3.4 timestamp freshness and a bounded nonce replay cache, with an injected clock. */
export {
  NonceCache,
  type NonceCacheOptions,
  type TimestampCheck,
  TimestampChecker,
  type TimestampCheckerOptions,
  type TimestampFailure,
} from './send-freshness';
// SeND (RFC 3971)
/** The SeND CGA Message Type tag 0x086F CA5E 10B2 00C9 9C8C E001 6427 7C08. */
/** Key Hash (SHA-1 of the SPKI DER, leftmost 128 bits) and the exact signed octets. */
/** RSA Signature option value: sign and verify (RSASSA-PKCS1-v1_5, SHA-1). */
export {
  SEND_CGA_MESSAGE_TYPE_TAG,
  type SendSignatureFailure,
  type SendSignatureInput,
  type SendSignatureVerification,
  sendKeyHash,
  sendSignedData,
  signSendMessage,
  verifySendMessage,
} from './send-signature';
/** The controller's TLS certificate (ECDSA P-256, self-signed) and the SHA-256 pin nodes hold of it. */
export {
  CERTIFICATE_SHA256_LENGTH,
  CERTIFICATE_SHA256_PATTERN,
  certificateMatchesPin,
  certificateSha256,
  createTlsCertificate,
  formatCertificateSha256,
  parseCertificateSha256,
  type TlsCertificate,
  type TlsCertificateOptions,
} from './tls-certificate';
