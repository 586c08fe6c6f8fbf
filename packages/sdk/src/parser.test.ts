import { describe, expect, it } from 'vitest';
import { checkSource } from './compile';

const codes = (source: string) =>
  checkSource(source).diagnostics.items.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);

describe('parser', () => {
  it('allows a local declaration only as a block statement (JLS 14.4)', () => {
    expect(codes('class A { static void f(int x) { if (x > 0) int y = 1; } }')).toEqual([
      '1:45 PARSE_EXPECTED',
    ]);
    expect(codes('class A { static void f(int x) { while (x > 0) int y = 1; } }')).toEqual([
      '1:48 PARSE_EXPECTED',
    ]);
    expect(
      codes(
        'class A { static void f(int x) { if (x > 0) { int y = 1; } switch (x) { case 1: int z = 2; } } }',
      ),
    ).toEqual([]);
  });
});
