import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instructionTable, renderIsaDoc } from '../src/index';

describe('docs/isa.md', () => {
  it('is generated from the current table (run `capsule vm isa-doc` after changing it)', () => {
    const committed = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'isa.md'), 'utf8');
    expect(committed).toBe(renderIsaDoc());
  });
  it('lists every instruction of the table', () => {
    const text = renderIsaDoc();
    for (const spec of instructionTable) expect(text).toContain(`| \`${spec.mnemonic}\` |`);
    expect(instructionTable.filter((s) => s.extension === 'I').length).toBe(41); // 37 + fence, fence.tso, ecall, ebreak
    expect(instructionTable.filter((s) => s.extension === 'M').length).toBe(8);
    expect(instructionTable.filter((s) => s.extension === 'A').length).toBe(11);
    expect(instructionTable.filter((s) => s.extension === 'C').length).toBe(27); // RV32C without F/D
  });
});
