import {
  decodeProgramImage,
  encodeProgramImage,
  type ProgramImage,
  programImageFromJson,
  programImageLength,
  programImageToJson,
} from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { compile } from './compile';

const codes = (source: string) =>
  compile(source).diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);

describe('diagnostics', () => {
  it('reports every error of a file with its code and line:column, not only the first', () => {
    const source = [
      'class A {',
      '  static int f(int x) { byte b = x; return b + q; }', // narrowing without a cast; unknown name
      '  static int g() { while (true) { } return 1; }', // unreachable
      '  static int h(int x) { if (x > 0) return 1; }', // missing return
      '  static void k() { int[] a = new int[x]; break; }', // unknown x; break outside a loop
      '  static void m() { int y = 1 + ; }', // syntax error, recovered
      '  static double d;', // floating point
      '}',
    ].join('\n');
    expect(codes(source)).toEqual([
      '2:34 CHECK_TYPE_MISMATCH',
      '2:48 CHECK_UNKNOWN_NAME',
      '3:37 CHECK_UNREACHABLE',
      '4:3 CHECK_MISSING_RETURN',
      '5:39 CHECK_UNKNOWN_NAME',
      '5:43 CHECK_BAD_BREAK',
      '6:33 PARSE_EXPECTED',
      '7:10 PARSE_UNSUPPORTED',
    ]);
  });

  it('checks Java rules: constants narrow implicitly, switch labels are constants and unique', () => {
    expect(
      codes('class A { static void f(int x) { byte b = 10; char c = 65; short s = -1; b += 300; } }'),
    ).toEqual([]);
    expect(codes('class A { static void f(int x) { byte b = 128; } }')).toEqual(['1:43 CHECK_TYPE_MISMATCH']);
    expect(
      codes(
        'class A { static int f(int x) { switch (x) { case 1: case 1: return 0; case x: return 2; } return 1; } }',
      ),
    ).toEqual(['1:59 CHECK_DUPLICATE_CASE', '1:77 CHECK_CONSTANT_REQUIRED']);
    expect(codes('class A { static int f() { return 2147483648; } }')).toEqual(['1:35 LEX_BAD_NUMBER']);
    expect(codes('class A { static final int K = 1; static void f() { K = 2; } }')).toEqual([
      '1:53 CHECK_FINAL_ASSIGNED',
    ]);
  });

  it('checks the capsule API: entries, annotations, records', () => {
    expect(codes('class A { @Entry static int e(Packet p) { return 1; } }')).toEqual([
      '1:11 CHECK_BAD_ENTRY',
    ]);
    expect(
      codes(
        'class A { @Data static int x = 1; @Flow static int y; @Entry static void e(Packet p, Action a) { a.forward(p.hopLimit() + x + y); } }',
      ),
    ).toEqual([]);
    expect(codes('class A { @Entry static void e(Packet p, Action a) { a.fly(1); } }')).toEqual([
      '1:54 CHECK_UNKNOWN_NAME',
    ]);
    expect(
      codes(
        'class A { @Data static int x = Services.random(); @Entry static void e(Action a) { a.deliver(); } }',
      ),
    ).toEqual(['1:32 CHECK_CONSTANT_REQUIRED']);
  });
});

describe('the program image', () => {
  const binaryOf = (image: ProgramImage) => {
    const out = new Uint8Array(programImageLength(image));
    encodeProgramImage(image, out);
    return out;
  };
  const source =
    'import capsule.*;\nclass A {\n  @Data static int count = 3;\n  @Data static byte[] tags = {1, 2};\n  static int seen;\n  @Entry static void e(Packet p, Action a) {\n    seen++;\n    count += seen;\n    a.forward(count);\n  }\n}\n';

  it('is the same, byte for byte, for the same source (JSON and binary)', () => {
    const a = compile(source).image!;
    const b = compile(source).image!;
    expect(programImageToJson(a)).toBe(programImageToJson(b));
    expect(Buffer.from(binaryOf(a)).equals(Buffer.from(binaryOf(b)))).toBe(true);
  });

  it('round-trips through JSON and binary, and lists the data layout', () => {
    const image = compile(source).image!;
    expect(programImageFromJson(programImageToJson(image))).toEqual({ ok: true, value: image });
    expect(decodeProgramImage(binaryOf(image))).toEqual({ ok: true, value: image });
    expect(image.data.map((d) => [d.name, d.region, d.offset, d.size, d.type, d.initial])).toEqual([
      ['count', 'DATA', 0, 4, 'int', '03000000'],
      ['tags', 'DATA', 4, 2, 'byte[]', '0102'],
      ['seen', 'STACK', 0, 4, 'int', ''],
    ]);
    expect(image.regions.dataBytes).toBe(6);
    expect(image.logicHash).toMatch(/^[0-9a-f]{64}$/);
    expect(image.sourceMap.map((s) => s.line)).toContain(8);
  });

  it('uses compressed encodings where it can', () => {
    const small = compile(source).image!.code.length;
    const big = compile(source, { compress: false }).image!.code.length;
    expect(small).toBeLessThan(big);
    const loop =
      'class L { static int f(int n) { int s = 0; for (int i = 0; i < n; i++) s += i; return s; } }';
    expect(compile(loop).image!.code.length).toBeLessThan(
      compile(loop, { compress: false }).image!.code.length * 0.7,
    );
  });
});
