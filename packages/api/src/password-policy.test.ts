import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { minPasswordLength, passwordProblem } from './password-policy';

describe('passwordProblem', () => {
  it('refuses short, repetitive, common and login-equal passwords with a sentence', () => {
    for (const weak of [
      'x',
      'password',
      'eleven-char', // 11
      'aaaaaaaaaaaa',
      'abababababab',
      'password1234',
      'Password2024!',
      'P@ssw0rd!!!!',
      'administrator',
      '123456789012',
      '1q2w3e4r5t6y',
      'qwertyuiop12',
      'changeme-123',
    ])
      expect(passwordProblem(weak), weak).toEqual(expect.any(String));
    expect(passwordProblem('x')).toMatch(/at least 12 characters \(this one has 1\)/);
    expect(passwordProblem('margaret-1977', 'margaret')).toMatch(/user name/);
  });

  it('accepts long passwords that are none of those', () => {
    for (const strong of [
      'admin-password-1',
      'node-password-1',
      'correct horse battery',
      'k3v!9sQz#pLw',
      '#$%&*!@~<>?/',
    ])
      expect(passwordProblem(strong), strong).toBeUndefined();
  });

  it('counts characters, not UTF-16 units, and never throws (property)', () => {
    expect(passwordProblem('🔑🔑🔑🔑🔑🔑')).toMatch(/this one has 6/);
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200, unit: 'binary' }),
        fc.option(fc.string({ maxLength: 60 })),
        (p, login) => {
          const problem = passwordProblem(p, login ?? undefined);
          if ([...p].length < minPasswordLength) expect(problem).toEqual(expect.any(String));
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});
