import { parseIpv6 } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { compileAcl, isAllowed, parseAclRule } from './acl';
import { AgentError } from './errors';

const address = (text: string) => {
  const parsed = parseIpv6(text);
  if (!parsed.ok) throw new Error(text);
  return parsed.value;
};

describe('ACL rules', () => {
  it('compiles the rule text: action, protocol, port range, peer', () => {
    expect(parseAclRule('  DENY  tcp PORT 22 ')).toMatchObject({
      action: 'deny',
      protocol: 6,
      portLow: 22,
      portHigh: 22,
      peer: undefined,
      text: 'DENY  tcp PORT 22',
    });
    expect(parseAclRule('allow udp port 5000-5999 peer fd00::1')).toMatchObject({
      action: 'allow',
      protocol: 17,
      portLow: 5000,
      portHigh: 5999,
      peer: address('fd00::1'),
    });
    expect(parseAclRule('deny')).toMatchObject({ protocol: -1, portLow: 0, portHigh: 65535 });
    expect(parseAclRule('allow icmp peer fd00::2')).toMatchObject({ protocol: 1, peer: address('fd00::2') });
  });

  it('refuses every malformed rule with AGENT_BAD_ACL and the reason', () => {
    const cases: [text: string, reason: RegExp][] = [
      ['', /starts with allow or deny/],
      ['permit tcp', /starts with allow or deny/],
      ['deny tcp port', /port needs a value/],
      ['deny tcp port 70000', /bad port 70000/],
      ['deny tcp port 22-21', /bad port 22-21/], // a range backwards
      ['deny tcp port 1-2-3', /bad port/],
      ['deny tcp port x', /bad port x/],
      ['deny port 22', /port needs tcp or udp/], // any protocol: a port means nothing to ICMP
      ['deny icmp port 1', /port needs tcp or udp/],
      ['deny tcp peer 10.0.0.1', /bad peer address/],
      ['deny tcp color red', /unknown word color/],
    ];
    for (const [text, reason] of cases) {
      let thrown: unknown;
      try {
        parseAclRule(text);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, text).toBeInstanceOf(AgentError);
      expect((thrown as AgentError).code, text).toBe('AGENT_BAD_ACL');
      expect((thrown as AgentError).message, text).toMatch(reason);
    }
    expect(() => compileAcl({ in: ['allow tcp port 80', 'deny tcp port 9-8'] })).toThrow(/bad port 9-8/);
  });

  it('decides by the first rule that matches, and allows when none does', () => {
    const peer = address('fd00::1');
    const other = address('fd00::2');
    const { in: rules } = compileAcl({
      in: ['allow tcp port 80-81 peer fd00::1', 'deny tcp port 80-443', 'deny icmp', 'allow udp'],
    });
    expect(isAllowed(rules, 6, 80, peer)).toBe(true);
    expect(isAllowed(rules, 6, 81, peer)).toBe(true);
    expect(isAllowed(rules, 6, 82, peer)).toBe(false); // past the first range: the second
    expect(isAllowed(rules, 6, 80, other)).toBe(false); // another peer: the second
    expect(isAllowed(rules, 6, 443, other)).toBe(false);
    expect(isAllowed(rules, 6, 444, other)).toBe(true); // none matches
    expect(isAllowed(rules, 6, 79, other)).toBe(true);
    expect(isAllowed(rules, 1, -1, peer)).toBe(false); // ICMPv4
    expect(isAllowed(rules, 58, -1, peer)).toBe(false); // ICMPv6 counts as icmp
    expect(isAllowed(rules, 17, 53, other)).toBe(true);
    expect(isAllowed([], 6, 22, peer)).toBe(true);
  });
});
