/**
 * DNS messages (RFC 1035 section 4), as much as the agent's resolver needs: the header, the
 * question section, and answer records (A, AAAA and any other type as opaque RDATA). Names may
 * use compression pointers on decode (RFC 1035 4.1.4; loops and forward chains refused); encode
 * writes names uncompressed.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |              ID               |QR| Opcode |AA|TC|RD|RA| Z|AD|CD| RCODE |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           QDCOUNT             |           ANCOUNT             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           NSCOUNT             |           ARCOUNT             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | question: QNAME (labels: length octet, bytes … , 0) | QTYPE (16) | QCLASS (16)
 * | answer:   NAME | TYPE (16) | CLASS (16) | TTL (32) | RDLENGTH (16) | RDATA
 * ```
 * - Labels are 1..63 octets; a name is at most 255 octets on the wire (RFC 1035 2.3.4).
 * - A length octet with the top two bits set (0xC0) is a pointer: 14-bit offset into the message.
 * - Names are decoded to lower-case dotted text without the trailing dot; octets outside
 *   printable ASCII, and `.` or `\` inside a label, are written as `\DDD` (RFC 4343 2.1).
 * - Authority and additional records are counted but not decoded (the resolver ignores them;
 *   EDNS OPT in the additional section is skipped, not answered).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Bytes of the fixed header. */
export const DNS_HEADER_LENGTH = 12;
/** Largest name on the wire (RFC 1035 2.3.4). */
export const DNS_MAX_NAME_LENGTH = 255;
/** Largest plain-UDP DNS message (RFC 1035 4.2.1). */
export const DNS_UDP_MESSAGE_LIMIT = 512;

/** Record types the resolver knows by name. */
export const DnsType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  ANY: 255,
} as const;
/** Class IN. */
export const DNS_CLASS_IN = 1;
/** Response codes (RFC 1035 4.1.1). */
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The header flags as fields. */
export interface DnsFlags {
  readonly isResponse: boolean;
  /** 4 bits; 0 = standard query. */
  readonly opcode: number;
  readonly isAuthoritative: boolean;
  readonly isTruncated: boolean;
  readonly isRecursionDesired: boolean;
  readonly isRecursionAvailable: boolean;
  /** 4 bits. */
  readonly rcode: number;
}

/** One question. */
export interface DnsQuestion {
  /** Dotted, lower-case, no trailing dot (the root is ''). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

/** One resource record (answers). RDATA is opaque except through `address`. */
export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Seconds (unsigned 32-bit). */
  readonly ttl: number;
  /** A: 4 bytes, AAAA: 16 bytes, others: the raw RDATA. */
  readonly data: Uint8Array;
}

/** A DNS message. */
export interface DnsMessage {
  readonly id: number;
  readonly flags: DnsFlags;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
}

/** A decoded message: the counts of the sections not decoded too. */
export interface DecodedDnsMessage extends DnsMessage {
  readonly authorityCount: number;
  readonly additionalCount: number;
}

function flagsWord(flags: DnsFlags): number {
  ensureUint(flags.opcode, 4, 'DNS opcode');
  ensureUint(flags.rcode, 4, 'DNS rcode');
  return (
    (flags.isResponse ? 0x8000 : 0) |
    (flags.opcode << 11) |
    (flags.isAuthoritative ? 0x0400 : 0) |
    (flags.isTruncated ? 0x0200 : 0) |
    (flags.isRecursionDesired ? 0x0100 : 0) |
    (flags.isRecursionAvailable ? 0x0080 : 0) |
    flags.rcode
  );
}

/** Splits dotted text into label octets; throws WIRE_VALUE_INVALID for names DNS cannot carry. */
function nameLabels(name: string): Uint8Array[] {
  if (name === '' || name === '.') return [];
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels: Uint8Array[] = [];
  let total = 1;
  for (const label of text.split('.')) {
    const octets: number[] = [];
    for (let i = 0; i < label.length; i += 1) {
      const ch = label.charCodeAt(i);
      if (ch === 0x5c) {
        const digits = label.slice(i + 1, i + 4);
        if (/^[0-9]{3}$/.test(digits) && Number(digits) <= 255) {
          octets.push(Number(digits));
          i += 3;
          continue;
        }
        throw new WireError('WIRE_VALUE_INVALID', `bad escape in DNS name ${JSON.stringify(name)}`);
      }
      if (ch > 0x7e || ch < 0x21)
        throw new WireError('WIRE_VALUE_INVALID', `DNS name ${JSON.stringify(name)} needs printable ASCII`);
      octets.push(ch);
    }
    if (octets.length < 1 || octets.length > 63)
      throw new WireError('WIRE_VALUE_INVALID', `DNS labels are 1..63 octets: ${JSON.stringify(name)}`);
    labels.push(Uint8Array.from(octets));
    total += 1 + octets.length;
  }
  if (total > DNS_MAX_NAME_LENGTH)
    throw new WireError('WIRE_LIMIT_EXCEEDED', `DNS name longer than ${DNS_MAX_NAME_LENGTH} octets`);
  return labels;
}

function writeName(name: string, into: Uint8Array, at: number): number {
  const labels = nameLabels(name);
  let length = 1;
  for (const label of labels) length += 1 + label.length;
  ensureRoom(into, at, length, 'DNS name');
  for (const label of labels) {
    into[at] = label.length;
    into.set(label, at + 1);
    at += 1 + label.length;
  }
  into[at] = 0;
  return at + 1;
}

/** The encoded length of `message`. */
export function dnsMessageLength(message: DnsMessage): number {
  let length = DNS_HEADER_LENGTH;
  const nameLength = (name: string) => nameLabels(name).reduce((n, label) => n + 1 + label.length, 1);
  for (const question of message.questions) length += nameLength(question.name) + 4;
  for (const record of message.answers) length += nameLength(record.name) + 10 + record.data.length;
  return length;
}

/** Writes `message` at into[offset]; returns the bytes written. Authority/additional sections are empty. */
export function encodeDnsMessage(message: DnsMessage, into: Uint8Array, offset = 0): number {
  ensureUint(message.id, 16, 'DNS id');
  if (message.questions.length > 0xffff || message.answers.length > 0xffff)
    throw new WireError('WIRE_LIMIT_EXCEEDED', 'too many DNS records');
  ensureRoom(into, offset, DNS_HEADER_LENGTH, 'DNS header');
  writeU16(into, offset, message.id);
  writeU16(into, offset + 2, flagsWord(message.flags));
  writeU16(into, offset + 4, message.questions.length);
  writeU16(into, offset + 6, message.answers.length);
  writeU16(into, offset + 8, 0);
  writeU16(into, offset + 10, 0);
  let at = offset + DNS_HEADER_LENGTH;
  for (const question of message.questions) {
    ensureUint(question.type, 16, 'DNS qtype');
    ensureUint(question.class, 16, 'DNS qclass');
    at = writeName(question.name, into, at);
    ensureRoom(into, at, 4, 'DNS question');
    writeU16(into, at, question.type);
    writeU16(into, at + 2, question.class);
    at += 4;
  }
  for (const record of message.answers) {
    ensureUint(record.type, 16, 'DNS type');
    ensureUint(record.class, 16, 'DNS class');
    ensureUint(record.ttl, 32, 'DNS ttl');
    ensureUint(record.data.length, 16, 'DNS rdlength');
    if (record.type === DnsType.A && record.data.length !== 4)
      throw new WireError('WIRE_VALUE_INVALID', 'an A record holds 4 bytes');
    if (record.type === DnsType.AAAA && record.data.length !== 16)
      throw new WireError('WIRE_VALUE_INVALID', 'an AAAA record holds 16 bytes');
    at = writeName(record.name, into, at);
    ensureRoom(into, at, 10 + record.data.length, 'DNS record');
    writeU16(into, at, record.type);
    writeU16(into, at + 2, record.class);
    writeU32(into, at + 4, record.ttl);
    writeU16(into, at + 8, record.data.length);
    into.set(record.data, at + 10);
    at += 10 + record.data.length;
  }
  return at - offset;
}

type NameResult = { ok: true; name: string; end: number } | { ok: false; message: string; offset: number };

/** Reads a possibly compressed name at `start`; `end` is where the name ends in place. Never throws. */
function readName(bytes: Uint8Array, start: number): NameResult {
  let at = start;
  let end = -1;
  let wireLength = 0;
  let jumps = 0;
  const parts: string[] = [];
  for (;;) {
    if (at >= bytes.length) return { ok: false, message: 'DNS name runs past the message', offset: at };
    const length = bytes[at]!;
    if ((length & 0xc0) === 0xc0) {
      if (at + 1 >= bytes.length) return { ok: false, message: 'DNS pointer truncated', offset: at };
      const target = ((length & 0x3f) << 8) | bytes[at + 1]!;
      // Pointers must point backwards (prior occurrence, RFC 1035 4.1.4): no loops possible.
      if (target >= at) return { ok: false, message: 'DNS pointer does not point backwards', offset: at };
      if (end < 0) end = at + 2;
      jumps += 1;
      if (jumps > 64) return { ok: false, message: 'too many DNS pointers', offset: at };
      at = target;
      continue;
    }
    if ((length & 0xc0) !== 0) return { ok: false, message: 'reserved DNS label type', offset: at };
    if (length === 0) {
      if (end < 0) end = at + 1;
      break;
    }
    wireLength += 1 + length;
    if (wireLength + 1 > DNS_MAX_NAME_LENGTH) return { ok: false, message: 'DNS name too long', offset: at };
    if (at + 1 + length > bytes.length) return { ok: false, message: 'DNS label truncated', offset: at };
    let label = '';
    for (let i = at + 1; i <= at + length; i += 1) {
      let byte = bytes[i]!;
      if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
      label +=
        byte < 0x21 || byte > 0x7e || byte === 0x2e || byte === 0x5c
          ? `\\${byte.toString().padStart(3, '0')}`
          : String.fromCharCode(byte);
    }
    parts.push(label);
    at += 1 + length;
  }
  return { ok: true, name: parts.join('.'), end };
}

/** Decodes a DNS message (header, questions, answers). Never throws. */
export function decodeDnsMessage(bytes: Uint8Array): DecodeResult<DecodedDnsMessage> {
  if (bytes.length < DNS_HEADER_LENGTH)
    return decodeFailure('TRUNCATED', `DNS header needs 12 bytes; got ${bytes.length}`, 0);
  const id = readU16(bytes, 0);
  const word = readU16(bytes, 2);
  const questionCount = readU16(bytes, 4);
  const answerCount = readU16(bytes, 6);
  // Each question takes at least 5 bytes, each record 11: refuse counts the bytes cannot hold.
  if (DNS_HEADER_LENGTH + questionCount * 5 + answerCount * 11 > bytes.length)
    return decodeFailure('BAD_LENGTH', 'DNS section counts exceed the message', 4);
  const flags: DnsFlags = {
    isResponse: (word & 0x8000) !== 0,
    opcode: (word >>> 11) & 0x0f,
    isAuthoritative: (word & 0x0400) !== 0,
    isTruncated: (word & 0x0200) !== 0,
    isRecursionDesired: (word & 0x0100) !== 0,
    isRecursionAvailable: (word & 0x0080) !== 0,
    rcode: word & 0x0f,
  };
  let at = DNS_HEADER_LENGTH;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < questionCount; i += 1) {
    const name = readName(bytes, at);
    if (!name.ok) return decodeFailure('BAD_FIELD', name.message, name.offset);
    if (name.end + 4 > bytes.length) return decodeFailure('TRUNCATED', 'DNS question truncated', name.end);
    questions.push({ name: name.name, type: readU16(bytes, name.end), class: readU16(bytes, name.end + 2) });
    at = name.end + 4;
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < answerCount; i += 1) {
    const name = readName(bytes, at);
    if (!name.ok) return decodeFailure('BAD_FIELD', name.message, name.offset);
    if (name.end + 10 > bytes.length) return decodeFailure('TRUNCATED', 'DNS record truncated', name.end);
    const type = readU16(bytes, name.end);
    const dataLength = readU16(bytes, name.end + 8);
    const dataStart = name.end + 10;
    if (dataStart + dataLength > bytes.length)
      return decodeFailure('TRUNCATED', 'DNS RDATA runs past the message', name.end + 8);
    if ((type === DnsType.A && dataLength !== 4) || (type === DnsType.AAAA && dataLength !== 16))
      return decodeFailure('BAD_LENGTH', `DNS type ${type} with RDLENGTH ${dataLength}`, name.end + 8);
    answers.push({
      name: name.name,
      type,
      class: readU16(bytes, name.end + 2),
      ttl: readU32(bytes, name.end + 4),
      data: bytes.subarray(dataStart, dataStart + dataLength),
    });
    at = dataStart + dataLength;
  }
  return decoded({
    id,
    flags,
    questions,
    answers,
    authorityCount: readU16(bytes, 8),
    additionalCount: readU16(bytes, 10),
  });
}
