/**
 * In/Out ACLs (seed: "In/Out ACL Management block"). The contract is the coarse policy (a packet
 * to or from a host that is no peer of ours has no flow and is dropped); ACLs narrow it further.
 * Rules are checked in order, the first match decides; no match allows.
 *
 * Rule text (config file and REST API): `<allow|deny> [tcp|udp|icmp|any] [port N|N-M] [peer ADDR]`,
 * for example `deny tcp port 22`, `allow udp port 5000-5999 peer fd00::1`. Port matches the
 * destination port (out) or the local port (in: also the destination of the arriving packet).
 */
import { AclRuleWords, parseIpv6 } from '@capsule/wire';
import { AgentError } from './errors';
import { isAddressAt } from './flows';

/** One compiled rule. */
export interface AclRule {
  readonly action: 'allow' | 'deny';
  /** IP protocol number, or -1 for any. ICMP matches both ICMPv4 (1) and ICMPv6 (58). */
  readonly protocol: number;
  readonly portLow: number;
  readonly portHigh: number;
  /** 16-byte peer CGA, or undefined for any. */
  readonly peer: Uint8Array | undefined;
  /** The rule as written. */
  readonly text: string;
}

/** The two rule lists. */
export interface AclRules {
  readonly in: readonly AclRule[];
  readonly out: readonly AclRule[];
}

const protocols: Record<string, number> = { any: -1, tcp: 6, udp: 17, icmp: 1 };

/** Compiles one rule; throws AGENT_BAD_ACL with the reason. */
export function parseAclRule(text: string): AclRule {
  const words = text.trim().toLowerCase().split(/\s+/);
  const fail = (why: string) => new AgentError('AGENT_BAD_ACL', `ACL rule ${JSON.stringify(text)}: ${why}`);
  const action = words.shift();
  if (action !== 'allow' && action !== 'deny') throw fail('starts with allow or deny');
  let protocol = -1;
  let portLow = 0;
  let portHigh = 65535;
  let peer: Uint8Array | undefined;
  if (words[0] !== undefined && words[0] in protocols) protocol = protocols[words.shift()!]!;
  while (words.length > 0) {
    const word = words.shift()!;
    const value = words.shift();
    if (value === undefined) throw fail(`${word} needs a value`);
    if (word === 'port') {
      const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value);
      const low = Number(match?.[1]);
      const high = Number(match?.[2] ?? match?.[1]);
      if (!match || low > high || high > 65535) throw fail(`bad port ${value}`);
      if (protocol !== 6 && protocol !== 17) throw fail('port needs tcp or udp');
      portLow = low;
      portHigh = high;
    } else if (word === 'peer') {
      const parsed = parseIpv6(value);
      if (!parsed.ok) throw fail(`bad peer address ${value}`);
      peer = parsed.value;
    } else throw fail(`unknown word ${word}`);
  }
  return { action, protocol, portLow, portHigh, peer, text: text.trim() };
}

/** Compiles both lists. */
export function compileAcl(rules: { in?: readonly string[]; out?: readonly string[] }): AclRules {
  return { in: (rules.in ?? []).map(parseAclRule), out: (rules.out ?? []).map(parseAclRule) };
}

/**
 * True when `rules` allow a packet. `protocol` is the IP protocol (ICMPv6 counts as icmp), `port`
 * the destination port (-1 when the packet has none), `peer` the peer CGA. No allocation.
 */
export function isAllowed(
  rules: readonly AclRule[],
  protocol: number,
  port: number,
  peer: Uint8Array,
): boolean {
  for (let i = 0; i < rules.length; i += 1) {
    const rule = rules[i]!;
    if (rule.protocol !== -1 && rule.protocol !== (protocol === 58 ? 1 : protocol)) continue;
    if (rule.portLow !== 0 || rule.portHigh !== 65535) {
      if (port < rule.portLow || port > rule.portHigh) continue;
    }
    if (rule.peer && !isAddressAt(peer, 0, rule.peer)) continue;
    return rule.action === 'allow';
  }
  return true;
}

/**
 * The rules of `rules` that can match packets of peer `peer` (those for any peer or for it), in
 * order, as the native fast path evaluates them for that peer's flow (wire's AclRuleWords): the
 * same first-match decision as `isAllowed` for every protocol and port. Set-up only.
 */
export function aclRuleWords(rules: readonly AclRule[], peer: Uint8Array): Int32Array {
  const forPeer = rules.filter((rule) => rule.peer === undefined || isAddressAt(peer, 0, rule.peer));
  const words = new Int32Array(forPeer.length * AclRuleWords.LENGTH);
  forPeer.forEach((rule, index) => {
    const at = index * AclRuleWords.LENGTH;
    words[at + AclRuleWords.ALLOW] = rule.action === 'allow' ? 1 : 0;
    words[at + AclRuleWords.PROTOCOL] = rule.protocol;
    words[at + AclRuleWords.PORT_LOW] = rule.portLow;
    words[at + AclRuleWords.PORT_HIGH] = rule.portHigh;
  });
  return words;
}
