/**
 * TAP mode (seed, egress step 5 "Ethernet header is created or edited"; ingress step 1 "Ethernet
 * header is removed"). A TAP device carries Ethernet frames, so the agent plays the one router on
 * the segment: it strips the 14-byte header of frames from the kernel, answers the kernel's ARP
 * requests and IPv6 Neighbor Solicitations for any overlay address with its own MAC (proxy), and
 * puts a header (dst = the kernel's MAC, learned from its frames; src = the agent's MAC) in front
 * of every packet it writes.
 *
 * ```
 * Ethernet II: dst MAC (6) | src MAC (6) | EtherType (2: 0x0800 IPv4, 0x86DD IPv6, 0x0806 ARP)
 * ARP (RFC 826, Ethernet/IPv4): htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op (1 req, 2 reply)
 *                               | sha (6) | spa (4) | tha (6) | tpa (4)
 * ```
 */
import { ipv6PseudoHeaderSum, readU16, transportChecksum, writeU16 } from '@capsule/wire';

export const ETHERNET_HEADER_LENGTH = 14;
export const EtherType = { IPV4: 0x0800, ARP: 0x0806, IPV6: 0x86dd } as const;

/** The agent's side of the TAP segment: locally administered, fixed. */
export const AGENT_MAC = Uint8Array.of(0x02, 0xca, 0x95, 0x00, 0x00, 0x01);

/** Ethernet state of one TAP device: the kernel's MAC and a reply buffer (preallocated). */
export class TapSegment {
  /** The kernel's MAC (from the last frame it sent); broadcast until learned. */
  readonly peerMac = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
  private readonly reply = new Uint8Array(ETHERNET_HEADER_LENGTH + 40 + 32);

  /**
   * Handles a frame from the kernel. Returns the offset of the IP packet inside `frame` when it
   * carries IPv4/IPv6 for the data plane, or -1 when the frame was consumed here (ARP, ND) or dropped.
   * `write` sends replies back to the kernel.
   */
  receive(
    frame: Uint8Array,
    offset: number,
    length: number,
    write: (bytes: Uint8Array, offset: number, length: number) => void,
  ): number {
    if (length < ETHERNET_HEADER_LENGTH) return -1;
    this.peerMac.set(frame.subarray(offset + 6, offset + 12));
    const type = readU16(frame, offset + 12);
    const ip = offset + ETHERNET_HEADER_LENGTH;
    if (type === EtherType.ARP) {
      this.answerArp(frame, ip, length - ETHERNET_HEADER_LENGTH, write);
      return -1;
    }
    if (type === EtherType.IPV6) {
      // ICMPv6 Neighbor Solicitation from the kernel: answer for any target (we route everything).
      if (length >= ETHERNET_HEADER_LENGTH + 40 + 24 && frame[ip + 6] === 58 && frame[ip + 40] === 135) {
        this.answerNeighborSolicitation(frame, ip, write);
        return -1;
      }
      return ip;
    }
    if (type === EtherType.IPV4) return ip;
    return -1;
  }

  /** Writes the Ethernet header for an IP packet of `version` at into[offset]; returns 14. */
  writeHeader(into: Uint8Array, offset: number, version: number): number {
    into.set(this.peerMac, offset);
    into.set(AGENT_MAC, offset + 6);
    writeU16(into, offset + 12, version === 6 ? EtherType.IPV6 : EtherType.IPV4);
    return ETHERNET_HEADER_LENGTH;
  }

  private answerArp(
    frame: Uint8Array,
    arp: number,
    length: number,
    write: (bytes: Uint8Array, offset: number, length: number) => void,
  ): void {
    if (length < 28 || readU16(frame, arp) !== 1 || readU16(frame, arp + 2) !== EtherType.IPV4) return;
    if (frame[arp + 4] !== 6 || frame[arp + 5] !== 4 || readU16(frame, arp + 6) !== 1) return;
    const out = this.reply;
    out.set(frame.subarray(arp + 8, arp + 14), 0); // to the requester
    out.set(AGENT_MAC, 6);
    writeU16(out, 12, EtherType.ARP);
    writeU16(out, 14, 1);
    writeU16(out, 16, EtherType.IPV4);
    out[18] = 6;
    out[19] = 4;
    writeU16(out, 20, 2);
    out.set(AGENT_MAC, 22); // sha: us
    out.set(frame.subarray(arp + 24, arp + 28), 28); // spa: the address asked for
    out.set(frame.subarray(arp + 8, arp + 14), 32); // tha: the requester
    out.set(frame.subarray(arp + 14, arp + 18), 38); // tpa
    write(out, 0, 42);
  }

  private answerNeighborSolicitation(
    frame: Uint8Array,
    ip: number,
    write: (bytes: Uint8Array, offset: number, length: number) => void,
  ): void {
    const out = this.reply;
    const e = ETHERNET_HEADER_LENGTH;
    out.set(frame.subarray(ip - ETHERNET_HEADER_LENGTH + 6, ip - ETHERNET_HEADER_LENGTH + 12), 0);
    out.set(AGENT_MAC, 6);
    writeU16(out, 12, EtherType.IPV6);
    // IPv6: from the target address to the solicitor, hop limit 255 (RFC 4861 7.1.2).
    out[e] = 0x60;
    out[e + 1] = 0;
    out[e + 2] = 0;
    out[e + 3] = 0;
    writeU16(out, e + 4, 32);
    out[e + 6] = 58;
    out[e + 7] = 255;
    out.set(frame.subarray(ip + 48, ip + 64), e + 8); // source = target
    out.set(frame.subarray(ip + 8, ip + 24), e + 24); // destination = solicitor
    const icmp = e + 40;
    out[icmp] = 136;
    out[icmp + 1] = 0;
    writeU16(out, icmp + 2, 0);
    out[icmp + 4] = 0x60; // Solicited + Override
    out[icmp + 5] = 0;
    out[icmp + 6] = 0;
    out[icmp + 7] = 0;
    out.set(frame.subarray(ip + 48, ip + 64), icmp + 8);
    out[icmp + 24] = 2; // Target Link-Layer Address option
    out[icmp + 25] = 1;
    out.set(AGENT_MAC, icmp + 26);
    const sum = ipv6PseudoHeaderSum(out, out, 58, 32, e + 8, e + 24);
    writeU16(out, icmp + 2, transportChecksum(sum, out, icmp, icmp + 32, icmp + 2));
    write(out, 0, e + 40 + 32);
  }
}
