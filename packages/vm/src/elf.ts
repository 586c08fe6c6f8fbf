/**
 * A reader for statically linked RV32 executables: ELF32, little-endian, e_machine 243 (RISC-V),
 * ET_EXEC. Only the program headers matter (PT_LOAD segments are what a loader maps). Returns a
 * result value; never throws on bad input.
 *
 * ```
 *  ELF header (52 bytes): 0 magic 7f 'E' 'L' 'F' | 4 class (1 = 32-bit) | 5 data (1 = LE) | …
 *   16 e_type u16 | 18 e_machine u16 | 20 e_version u32 | 24 e_entry u32 | 28 e_phoff u32 |
 *   32 e_shoff u32 | 36 e_flags u32 | 40 e_ehsize u16 | 42 e_phentsize u16 | 44 e_phnum u16 | …
 *  program header (32 bytes): 0 p_type | 4 p_offset | 8 p_vaddr | 12 p_paddr | 16 p_filesz |
 *   20 p_memsz | 24 p_flags (1 X, 2 W, 4 R) | 28 p_align
 * ```
 */

/** One PT_LOAD segment. */
export interface ElfSegment {
  readonly virtualAddress: number;
  readonly memorySizeBytes: number;
  /** The file bytes (filesz of them; the rest up to memsz is zero). */
  readonly bytes: Uint8Array;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
}

/** A parsed executable. */
export interface ElfImage {
  readonly entry: number;
  readonly segments: readonly ElfSegment[];
  /** Address and count of the program headers (for AT_PHDR / AT_PHNUM). */
  readonly programHeaderAddress: number;
  readonly programHeaderCount: number;
}

/** The outcome of parsing. */
export type ElfResult = { ok: true; image: ElfImage } | { ok: false; error: string };

const PT_LOAD = 1;
const PT_PHDR = 6;
/** RISC-V's e_machine. */
export const EM_RISCV = 243;

/** Parses an RV32 static executable. */
export function parseElf(file: Uint8Array): ElfResult {
  if (file.length < 52) return { ok: false, error: 'file too short for an ELF header' };
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (view.getUint32(0, false) !== 0x7f454c46) return { ok: false, error: 'not an ELF file (bad magic)' };
  if (file[4] !== 1) return { ok: false, error: 'not a 32-bit ELF (EI_CLASS must be ELFCLASS32)' };
  if (file[5] !== 1) return { ok: false, error: 'not little-endian (EI_DATA must be ELFDATA2LSB)' };
  if (view.getUint16(18, true) !== EM_RISCV)
    return { ok: false, error: `e_machine is ${view.getUint16(18, true)}, not RISC-V (243)` };
  if (view.getUint16(16, true) !== 2)
    return { ok: false, error: 'not a static executable (e_type must be ET_EXEC)' };
  const entry = view.getUint32(24, true);
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  if (phentsize < 32 || phoff + phnum * phentsize > file.length)
    return { ok: false, error: 'program headers lie outside the file' };
  const segments: ElfSegment[] = [];
  let programHeaderAddress = 0;
  for (let index = 0; index < phnum; index++) {
    const at = phoff + index * phentsize;
    const type = view.getUint32(at, true);
    const offset = view.getUint32(at + 4, true);
    const vaddr = view.getUint32(at + 8, true);
    const filesz = view.getUint32(at + 16, true);
    const memsz = view.getUint32(at + 20, true);
    const flags = view.getUint32(at + 24, true);
    if (type === PT_PHDR) programHeaderAddress = vaddr;
    if (type !== PT_LOAD) continue;
    if (offset + filesz > file.length || filesz > memsz)
      return { ok: false, error: `segment ${index} is malformed` };
    if (vaddr + memsz > 0x1_0000_0000)
      return { ok: false, error: `segment ${index} wraps the address space` };
    segments.push({
      virtualAddress: vaddr,
      memorySizeBytes: memsz,
      bytes: file.subarray(offset, offset + filesz),
      readable: (flags & 4) !== 0,
      writable: (flags & 2) !== 0,
      executable: (flags & 1) !== 0,
    });
    if (programHeaderAddress === 0 && offset === 0 && filesz >= phoff + phnum * phentsize)
      programHeaderAddress = vaddr + phoff;
  }
  if (segments.length === 0) return { ok: false, error: 'no PT_LOAD segment' };
  if (!segments.some((s) => s.executable)) return { ok: false, error: 'no executable segment' };
  return { ok: true, image: { entry, segments, programHeaderAddress, programHeaderCount: phnum } };
}
