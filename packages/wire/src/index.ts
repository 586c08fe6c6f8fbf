/**
 * @capsule/wire — codecs for every Capsule byte format. Pure: no I/O, no dependencies.
 *
 * Conventions: `encodeX(value, into, offset)` writes into the caller's buffer and returns the bytes
 * written (throwing WireError only for values our own code should never build); `decodeX(bytes)`
 * returns a DecodeResult and never throws; decoded byte fields are views into the input (no copy).
 * Hot paths use the preallocated views (LinkFrameView, CapsuleHeaderView, CapsuleChunkCursor,
 * Ipv6ExtensionWalk, NdOptionCursor), which allocate nothing per packet.
 */

// Bytes, checksums, addresses
/** Big-endian field access on Uint8Arrays. */
export { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './bytes';
/** The capsule header (IPv6 next header 253): packet types, chunks, limits, hot-path views. */
export {
  CAPSULE_FIXED_LENGTH,
  CAPSULE_HEADER_LIMIT,
  CAPSULE_NEXT_HEADER,
  CAPSULE_VERSION,
  CapsuleChunkCursor,
  CapsuleFlag,
  type CapsuleHeader,
  CapsuleHeaderView,
  CHUNK_HEADER_LENGTH,
  ChunkLimit,
  ChunkType,
  capsuleHeaderLength,
  type DecodedCapsuleHeader,
  decodeCapsuleHeader,
  encodeCapsuleHeader,
  PacketType,
  packetTypeViolation,
} from './capsule-header';
/** Internet checksum (RFC 1071), pseudo-headers, RFC 1624 incremental updates. */
export {
  finishChecksum,
  internetChecksum,
  ipv4PseudoHeaderSum,
  ipv6PseudoHeaderSum,
  isChecksumValid,
  onesComplementSum,
  transportChecksum,
  updateChecksumBytes,
  updateChecksumWord,
} from './checksum';
/** The CODE chunk value (entry table and machine code). */
export {
  CODE_MACHINE_CODE_LIMIT,
  type CodeChunk,
  checkCodeChunk,
  codeChunkLength,
  decodeCodeChunk,
  encodeCodeChunk,
} from './code-chunk';
/** The ports of a native data path: the link layer's, the engine's and the agent's side, implemented by @capsule/native. */
export {
  AclRuleWords,
  type AgentFastPath,
  AgentFastPathHandUp,
  type AgentFastPathHandUpReason,
  type AgentFastPathStats,
  type AgentGroupIngressFlow,
  type AgentIngressFlow,
  type EgressFlowSelector,
  type EngineFastPath,
  type FastPathCounters,
  FastPathEngineState,
  type FastPathFlowArrays,
  FastPathHandUp,
  type FastPathHandUpReason,
  FastPathProgramState,
  type FastPathStats,
  type LinkDataPath,
  SIGNATURES_AHEAD_COUNTS,
  type SignaturesAhead,
  type SignaturesAheadStats,
  type TunWriteTarget,
  type UnderlayAddress,
} from './data-path-ports';
/** The result of every decoder: a value, or a code, message and byte offset. */
export {
  type DecodeError,
  type DecodeErrorCode,
  type DecodeResult,
  decoded,
  decodeFailure,
} from './decode-result';
/** DNS messages (RFC 1035): header, questions, A/AAAA answers; compression pointers on decode. */
export {
  type DecodedDnsMessage,
  DNS_CLASS_IN,
  DNS_HEADER_LENGTH,
  DNS_MAX_NAME_LENGTH,
  DNS_UDP_MESSAGE_LIMIT,
  type DnsFlags,
  type DnsMessage,
  type DnsQuestion,
  DnsRcode,
  type DnsRecord,
  DnsType,
  decodeDnsMessage,
  dnsMessageLength,
  encodeDnsMessage,
} from './dns-message';
// Errors and results
/** The one base error of Capsule, with a stable literal code. */
export { CapsuleError, isCapsuleError } from './errors';
/** ICMPv4 header (RFC 792). */
export {
  type DecodedIcmpv4Message,
  decodeIcmpv4Message,
  encodeIcmpv4Message,
  type Icmpv4Header,
} from './icmpv4';
/** ICMPv6 header and checksum (RFC 4443). */
export {
  type DecodedIcmpv6Message,
  decodeIcmpv6Message,
  encodeIcmpv6Message,
  type Icmpv6Header,
  icmpv6Checksum,
  setIcmpv6Checksum,
} from './icmpv6';
/** IPv4 and IPv6 address text (RFC 5952 canonical output). */
export { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-address';
// IP and transport headers
/** IPv4 header (RFC 791) with TTL decrement by RFC 1624. */
export {
  type DecodedIpv4Header,
  decodeIpv4Header,
  decrementIpv4Ttl,
  encodeIpv4Header,
  IPV4_MIN_HEADER_LENGTH,
  type Ipv4Header,
} from './ipv4';
/** IPv6 fixed header and extension-header walk (RFC 8200). */
export {
  type DecodedIpv6Header,
  type DecodedIpv6Packet,
  decodeIpv6Header,
  decodeIpv6Packet,
  encodeIpv6Header,
  IPV6_HEADER_LENGTH,
  IpProtocol,
  type Ipv6ExtensionHeader,
  Ipv6ExtensionWalk,
  type Ipv6Header,
  isIpv6ExtensionHeader,
  MAX_IPV6_EXTENSION_HEADERS,
  readFlowLabel,
} from './ipv6';
// Overlay
/** The link frame between overlay neighbors (UDP 7447). */
export {
  CookieBody,
  type DecodedLinkFrame,
  decodeLinkFrame,
  encodeLinkFrame,
  encodeLinkFrameHeader,
  HANDSHAKE_MAC_LENGTH,
  HANDSHAKE_MACS_LENGTH,
  LINK_FRAME_HEADER_LENGTH,
  LINK_FRAME_TAG_LENGTH,
  LINK_FRAME_VERSION,
  LINK_UDP_PORT,
  type LinkFrame,
  LinkFrameType,
  LinkFrameView,
  linkFrameAadEnd,
  linkFrameLength,
  linkFrameTrailerLength,
  peekLinkFrameType,
  readLinkFrameCounter,
} from './link-frame';
/** ND messages RS/RA/NS/NA and the SeND signed range (RFC 3971 5.2). */
export {
  type DecodedNdMessage,
  decodeNdMessage,
  encodeNdMessage,
  type NdMessage,
  NdMessageType,
  ndMessageLength,
  ndOptionsOffset,
  type SendSignedRange,
  sendSignedRange,
} from './nd-message';
// Neighbor discovery
/** ND and SeND options (RFC 4861, RFC 3971) and Capsule's two experimental ones. */
export {
  decodeNdOptions,
  decodeNdOptionsIn,
  encodeNdOption,
  encodeNdOptions,
  type NdOption,
  NdOptionCursor,
  NdOptionType,
  ndOptionLength,
  rsaSignatureBytes,
  timestampFromMs,
  timestampToMs,
} from './nd-option';
/** The PATH chunk value, and the engine id (last 16 bits of a host id) its hops name. */
export {
  checkPathChunk,
  decodePathChunk,
  encodePathChunk,
  engineIdOfHostId,
  PATH_CHUNK_LIMIT,
  PATH_FIXED_LENGTH,
  PATH_HOP_LENGTH,
  type PathChunk,
  type PathHop,
  PathOffset,
  pathChunkLength,
} from './path-chunk';
// Capture
/** pcap files (LINKTYPE_RAW, microseconds) built in memory. */
export {
  decodePcapFile,
  encodePcapFile,
  encodePcapFileHeader,
  encodePcapRecord,
  LINKTYPE_RAW,
  PCAP_FILE_HEADER_LENGTH,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_RECORD_HEADER_LENGTH,
  type PcapFile,
  type PcapRecord,
} from './pcap';
/** The shared ports: Clock (time and timers) and Logger, the system clock and a silent logger. */
export {
  type Clock,
  clockUs,
  createMicrosecondClock,
  fastPathClockProblem,
  type Logger,
  type MicrosecondClock,
  type MicrosecondClockSources,
  silentLogger,
  systemClock,
} from './ports';
/** The program image: one type, its JSON and binary forms, and the logic hash (SHA-256 of the machine code). */
export {
  createProgramImage,
  decodeProgramImage,
  encodeProgramImage,
  initialDataOf,
  isBinaryProgramImage,
  type LayoutEntry,
  type LayoutRegion,
  LOGIC_HASH_LENGTH,
  logicHashOf,
  PROGRAM_IMAGE_FORMAT,
  PROGRAM_IMAGE_VERSION,
  PROGRAM_REGION_LIMIT,
  type ProgramImage,
  ProgramImageChunk,
  type ProgramImageRegions,
  programImageFromJson,
  programImageLength,
  programImageToJson,
} from './program-image';
/** The Prometheus text exposition format, written by hand (engine and agent /metrics). */
export { createPrometheusText, PROMETHEUS_TEXT_CONTENT_TYPE, type PrometheusText } from './prometheus-text';
/** The e2e-sealed payload envelope (after capsule next header 59): parts, and its header codec (encode, reused view). */
export {
  decodeSealedPayload,
  encodeSealedPayload,
  encodeSealedPayloadHeader,
  SEALED_PAYLOAD_HEADER_LENGTH,
  SEALED_PAYLOAD_NONCE_LENGTH,
  SEALED_PAYLOAD_NONCE_OFFSET,
  SEALED_PAYLOAD_OVERHEAD,
  SEALED_PAYLOAD_TAG_LENGTH,
  type SealedPayload,
  SealedPayloadView,
} from './sealed-payload';
/** TCP header with options (RFC 9293). */
export {
  type DecodedTcpHeader,
  decodeTcpHeader,
  encodeTcpHeader,
  TCP_MIN_HEADER_LENGTH,
  TcpFlag,
  type TcpHeader,
} from './tcp';
/** The TRACE chunk value (per-hop records). */
export {
  checkTraceChunk,
  decodeTraceChunk,
  encodeTraceChunk,
  encodeTraceRecord,
  TRACE_CHUNK_LIMIT,
  TRACE_RECORD_LENGTH,
  type TraceRecord,
} from './trace-chunk';
/** The TRANSPORT chunk value (the sealed packet's protocol and ports, in cleartext). */
export {
  checkTransportChunk,
  decodeTransportChunk,
  encodeTransportChunk,
  TRANSPORT_CHUNK_LENGTH,
  type TransportChunk,
} from './transport-chunk';
/** UDP header (RFC 768). */
export {
  type DecodedUdpHeader,
  decodeUdpHeader,
  encodeUdpHeader,
  UDP_HEADER_LENGTH,
  type UdpHeader,
  udpChecksum,
} from './udp';
/** Thrown by encoders for values the format cannot carry. */
export { WireError, type WireErrorCode } from './wire-error';
