/**
 * Golden listings: the compiled code of every program of the network-function library
 * (examples/programs/*.java) is checked in as assembly (examples/programs/listings/*.s), so that a
 * change of code generation shows in review. When code generation changes on purpose, regenerate
 * them and review the diff:
 *
 *     CAPSULE_UPDATE_GOLDEN=1 npx vitest run packages/sdk/test/golden.test.ts
 *
 * Each listing also assembles (our assembler) back to the very bytes the compiler produced.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble } from '../src/assembler';
import { listProgram } from '../src/listing';

const programsDir = join(import.meta.dirname, '..', '..', '..', 'examples', 'programs');
const listingsDir = join(programsDir, 'listings');
const update = process.env.CAPSULE_UPDATE_GOLDEN === '1';
const regenerate = 'CAPSULE_UPDATE_GOLDEN=1 npx vitest run packages/sdk/test/golden.test.ts';

describe('golden listings of the network-function library', () => {
  const programs = readdirSync(programsDir)
    .filter((f) => f.endsWith('.java'))
    .sort();
  if (update) mkdirSync(listingsDir, { recursive: true });

  for (const program of programs) {
    const listingName = program.replace(/\.java$/, '.s');
    it(`${program}: the compiled code is examples/programs/listings/${listingName}`, () => {
      const listing = listProgram(readFileSync(join(programsDir, program), 'utf8'), program);
      if (!listing.ok) throw new Error(`${program} does not compile: ${JSON.stringify(listing.diagnostics)}`);
      const path = join(listingsDir, listingName);
      if (update) writeFileSync(path, listing.text);
      expect(existsSync(path), `no listing for ${program}: run ${regenerate}`).toBe(true);
      expect(
        listing.text,
        `the code generated for ${program} changed: if that is intended, run ${regenerate} and review the diff`,
      ).toBe(readFileSync(path, 'utf8'));
      const assembled = assemble(listing.text, { name: program });
      expect(assembled.diagnostics).toEqual([]);
      expect(Buffer.from(assembled.image!.code).equals(Buffer.from(listing.code))).toBe(true);
    });
  }

  it('has no listing without its program', () => {
    const stale = readdirSync(listingsDir).filter((f) => !programs.includes(f.replace(/\.s$/, '.java')));
    expect(stale, `delete them, or run ${regenerate}`).toEqual([]);
  });
});
