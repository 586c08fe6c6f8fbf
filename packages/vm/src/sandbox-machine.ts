/**
 * The sandbox machine: what an engine runs a packet's program on. Regions as sandbox-abi.ts maps
 * them, entry registers, a fuel budget, ECALL services through an injected host, and every way a
 * program can go wrong turned into a DROP verdict with a trap reason — never an exception.
 *
 * Memory is one preallocated buffer per region; the host fills PACKET and ENGINE (and PATH and
 * DATA, whose accessible length it sets per run) through `regions`, and may bind its own FLOW and
 * CONTRACT memory per run (no copies). ACTION and the used part of STACK are zeroed before each
 * run. One execution allocates nothing; the result object is reused (valid until the next run).
 */
import {
  compileFastTier,
  type FastTierFunction,
  type FastTierOptions,
  FUEL_SLICE,
  NEED_INTERPRETER,
} from './core/fast-tier';
import { createInterpreter } from './core/interpreter';
import { type DecodedProgram, predecode } from './core/program';
import {
  createMachineState,
  type Executor,
  Exit,
  type MachineState,
  mapPage,
  type NativeTier,
  PAGE_BYTES,
} from './core/state';
import { VmError } from './errors';
import {
  ACTION_BASE,
  ACTION_BYTES,
  ActionField,
  CODE_BASE,
  CODE_MAX_BYTES,
  CONTRACT_BASE,
  CONTRACT_BYTES,
  DATA_BASE,
  DATA_MAX_BYTES,
  EGRESS_MAX_LINKS,
  EMIT_MAX_PER_EXECUTION,
  ENGINE_BASE,
  ENGINE_LINK_BYTES,
  ENGINE_MAX_BYTES,
  ENGINE_MAX_LINKS,
  EngineField,
  EngineLinkField,
  entryRegisters,
  FLOW_BASE,
  FLOW_BYTES,
  FUEL_DEFAULT,
  FUEL_MAX,
  LOG_MAX_BYTES,
  PACKET_BASE,
  PACKET_BYTES,
  PATH_BASE,
  PATH_MAX_BYTES,
  Reg,
  Service,
  STACK_BASE,
  STACK_BYTES,
  services,
  TrapReason,
  Verdict,
} from './sandbox-abi';

/** What the engine supplies to services. Called synchronously; must not throw. */
export interface SandboxHost {
  /** EMIT: send a copy of the packet now with `action` (the ACTION region); true when sent. */
  emit(action: Uint8Array): boolean;
  /** FLOW_HASH: a stable 32-bit hash of the current flow mixed with `seed`. */
  flowHash(seed: number): number;
  /** TIME: milliseconds since the Unix epoch. */
  timeMs(): number;
  /** RANDOM: 32 random bits. */
  random(): number;
  /** LOG: one message (bytes valid only during the call); true when logged, false when rate-limited. */
  log(message: Uint8Array): boolean;
}

/**
 * Which executor runs the program: the interpreter, the fast tier (a JavaScript translation), or
 * the native tier (the interpreter in C++, through the `NativeTier` port the caller supplies).
 */
export type Tier = 'interpreter' | 'fast' | 'native';

/** Options of a sandbox machine (defaults in one place: `defaultSandboxOptions`). */
export interface SandboxOptions {
  /** Instructions per execution, 1..FUEL_MAX. */
  budgetInstructions?: number;
  /** Executor: the interpreter, or the fast tier (JavaScript translation) for prepared programs. */
  tier?: Tier;
}

/** Default options. */
export const defaultSandboxOptions: Required<SandboxOptions> = {
  budgetInstructions: FUEL_DEFAULT,
  tier: 'interpreter',
};

/** A program ready to run: pre-decoded once, fast-tier function made on first use. */
export interface PreparedProgram {
  readonly code: Uint8Array;
  readonly decoded: DecodedProgram;
  /** The fast-tier translation (made by `prepareProgram` with `fast: true`, or on first fast run). */
  fast: FastTierFunction | undefined;
}

/** Pre-decodes `code` (≤ 1 KiB) for CODE_BASE. Callers cache the result by logic hash. */
export function prepareProgram(code: Uint8Array, options: { fast?: boolean } = {}): PreparedProgram {
  if (code.length > CODE_MAX_BYTES)
    throw new VmError('VM_CODE_TOO_LARGE', `program code is ${code.length} bytes; at most ${CODE_MAX_BYTES}`);
  const decoded = predecode(code, CODE_BASE);
  return { code, decoded, fast: options.fast ? compileFastTier(decoded, fastTierOptions) : undefined };
}

/** Every run starts from the entry registers (all others 0): the fast tier may fold them in. */
const fastTierOptions: FastTierOptions = {
  constantRegisters: Array.from({ length: 32 }, (_, register) => [
    register,
    entryRegisters.find(([r]) => r === register)?.[1] ?? 0,
  ]),
  trackedPages: [STACK_BASE >>> 16],
};

/** Per-run inputs. */
export interface RunOptions {
  /** Byte offset into CODE to start at (default 0). */
  entryOffset?: number;
  /** Fuel for this run (default: the machine's budget; at most FUEL_MAX). */
  budgetInstructions?: number;
  /** Accessible bytes of PATH and DATA this run (default: 0). */
  pathLengthBytes?: number;
  dataLengthBytes?: number;
  /** FLOW memory (256 bytes) and CONTRACT memory (4096 bytes) to bind for this run. */
  flowMemory?: DataView;
  contractMemory?: DataView;
  /** Executor for this run (default: the machine's tier). */
  tier?: Tier;
}

/** The outcome of one execution (the machine's reused object). */
export interface ExecutionResult {
  /** Verdict code (Verdict): DROP whenever trap ≠ NONE. */
  verdict: number;
  /** TrapReason code; NONE when the program ended normally and its action set is valid. */
  trap: number;
  /** The program's own drop reason (ACTION.drop reason) when it chose DROP. */
  dropReason: number;
  /** ACTION.flags, ACTION.next entry, ACTION.egress count (when the verdict is not DROP). */
  flags: number;
  nextEntry: number;
  egressCount: number;
  /** Instructions (and service fuel) used. */
  fuelUsed: number;
  /** pc at the end (of the trap, or of the ending instruction). */
  pc: number;
  /** The faulting address of an ACCESS_FAULT / ATOMIC_FAULT / MISALIGNED_ATOMIC trap. */
  faultAddress: number;
  /** EMIT calls made. */
  emits: number;
}

/** Views of the machine's regions, for the host to fill and read. */
export interface SandboxRegions {
  readonly code: Uint8Array;
  readonly packet: Uint8Array;
  readonly path: Uint8Array;
  readonly data: Uint8Array;
  readonly flow: Uint8Array;
  readonly contract: Uint8Array;
  readonly engine: Uint8Array;
  readonly action: Uint8Array;
  readonly stack: Uint8Array;
}

/** A sandbox machine (one per engine worker; not re-entrant). */
export interface SandboxMachine {
  /** The region buffers (FLOW and CONTRACT: the machine's own, used when a run binds none). */
  readonly regions: SandboxRegions;
  /**
   * Registers after the last run (x0..x31). Read only: each run restores the entry registers by
   * undoing what the previous program could write (see DecodedProgram.writtenRegisters).
   */
  readonly registers: Int32Array;
  /** Runs `program`; returns the machine's result object (valid until the next run). */
  run(program: PreparedProgram, options?: RunOptions): ExecutionResult;
}

const page = (base: number) => base >>> 16;

/** The ports of a sandbox machine: the services' host, and the native tier when it may be used. */
export interface SandboxDeps {
  host: SandboxHost;
  nativeTier?: NativeTier;
}

/**
 * Creates a sandbox machine. `deps.host` supplies the services; `deps.nativeTier` is needed for
 * the tier 'native' (VM_NO_NATIVE_TIER without it).
 */
export function createSandboxMachine(options: SandboxOptions, deps: SandboxDeps): SandboxMachine {
  const settings = { ...defaultSandboxOptions, ...options };
  if (
    !Number.isInteger(settings.budgetInstructions) ||
    settings.budgetInstructions < 1 ||
    settings.budgetInstructions > FUEL_MAX
  )
    throw new VmError('VM_BAD_BUDGET', `fuel budget must be 1..${FUEL_MAX} instructions`);
  const { host } = deps;
  if (settings.tier === 'native' && deps.nativeTier === undefined)
    throw new VmError('VM_NO_NATIVE_TIER', "tier 'native' needs the native tier (deps.nativeTier)");
  const defaultBudget = settings.budgetInstructions;
  const defaultTier = settings.tier;
  const state: MachineState = createMachineState();
  const buffer = (bytes: number) => new Uint8Array(new ArrayBuffer(bytes));
  const regions: SandboxRegions = {
    code: buffer(CODE_MAX_BYTES),
    packet: buffer(PACKET_BYTES),
    path: buffer(PATH_MAX_BYTES),
    data: buffer(DATA_MAX_BYTES),
    flow: buffer(FLOW_BYTES),
    contract: buffer(CONTRACT_BYTES),
    engine: buffer(ENGINE_MAX_BYTES),
    action: buffer(ACTION_BYTES),
    stack: buffer(STACK_BYTES),
  };
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ownFlow = view(regions.flow);
  const ownContract = view(regions.contract);
  const actionView = view(regions.action);
  const engineView = view(regions.engine);
  const full = (bytes: number, write: boolean, atomic = false) => ({
    readBytes: bytes,
    writeBytes: write ? bytes : 0,
    atomicBytes: atomic ? bytes : 0,
  });
  // CODE is fetched from the pre-decoded program, not read as data.
  mapPage(state, page(PACKET_BASE), view(regions.packet), full(PACKET_BYTES, false));
  mapPage(state, page(PATH_BASE), view(regions.path), full(0, true));
  mapPage(state, page(DATA_BASE), view(regions.data), full(0, true));
  mapPage(state, page(FLOW_BASE), ownFlow, full(FLOW_BYTES, true));
  mapPage(state, page(CONTRACT_BASE), ownContract, full(CONTRACT_BYTES, true, true));
  mapPage(state, page(ENGINE_BASE), engineView, full(ENGINE_MAX_BYTES, false));
  mapPage(state, page(ACTION_BASE), actionView, full(ACTION_BYTES, true));
  mapPage(state, page(STACK_BASE), view(regions.stack), full(STACK_BYTES, true));

  const result: ExecutionResult = {
    verdict: 0,
    trap: 0,
    dropReason: 0,
    flags: 0,
    nextEntry: 0,
    egressCount: 0,
    fuelUsed: 0,
    pc: 0,
    faultAddress: 0,
    emits: 0,
  };
  const serviceCost = new Int32Array(8);
  const servicePerUnit = new Int32Array(8);
  for (const spec of services) {
    serviceCost[spec.number] = spec.fuelCost;
    servicePerUnit[spec.number] = spec.fuelPerUnit;
  }
  const stackPage = page(STACK_BASE);
  const pathPage = page(PATH_BASE);
  const dataPage = page(DATA_BASE);
  const flowPage = page(FLOW_BASE);
  const contractPage = page(CONTRACT_BASE);
  const R = state.regs;
  // This machine's interpreter (its state's arrays captured: see createInterpreter).
  const interpretHere = (state.interpreter = createInterpreter(state));
  // The native tier's executor, when there is one (it maps the pages mapped so far itself).
  const nativeHere: Executor | undefined = deps.nativeTier?.createExecutor(state);
  // Per-run resets are short loops of zero stores into Float64Array views (8 bytes per store; a
  // zero double is all zero bytes): TypedArray fill/set call into the runtime and cost more (measured).
  const doubles = (bytes: Uint8Array) =>
    new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 3);
  const actionDoubles = doubles(regions.action);
  const stackDoubles = doubles(regions.stack);
  const entryValues = new Int32Array(32);
  for (const [register, value] of entryRegisters) entryValues[register] = value;
  R.set(entryValues);
  /**
   * Registers (bit n = xn) that may not hold their entry values: those the last run's program could
   * change. A fast-tier run started from the entry registers sets and writes back its own
   * (`FastTierFunction.entryWrites`), so only the rest of these are restored before it.
   */
  let dirtyMask = 0;
  /**
   * Restores the entry values of x0..x31 (`entryRegisters`; a test checks they agree) as 16
   * stores of 8 bytes: register pairs read as doubles from a copy of the entry values (31 int32
   * stores cost ~5 ns more per run; a loop over just the registers the program can write was no
   * faster). Copying doubles cannot alter them: every pair is a zero or subnormal bit pattern,
   * never a NaN that V8 might canonicalise (the high word of each pair, an odd register, is 0 or
   * a region base below 0x7ff00000).
   */
  const registerDoubles = new Float64Array(R.buffer, R.byteOffset, 16);
  const entryDoubles = new Float64Array(entryValues.buffer, entryValues.byteOffset, 16);
  const [E0, E1, E2, E3, E4, E5, E6, E7, E8, E9, E10, E11, E12, E13, E14, E15] =
    entryDoubles as unknown as number[];
  if (entryDoubles.some(Number.isNaN)) throw new Error('entry register pairs must not form NaN doubles');
  const restoreAll = () => {
    const D = registerDoubles;
    D[0] = E0!;
    D[1] = E1!;
    D[2] = E2!;
    D[3] = E3!;
    D[4] = E4!;
    D[5] = E5!;
    D[6] = E6!;
    D[7] = E7!;
    D[8] = E8!;
    D[9] = E9!;
    D[10] = E10!;
    D[11] = E11!;
    D[12] = E12!;
    D[13] = E13!;
    D[14] = E14!;
    D[15] = E15!;
  };
  const { readLimit, writeLimit, atomicLimit, views, writeLow } = state;

  /** Clamps a PATH/DATA length to 0..max (whole bytes). */
  const length = (bytes: number | undefined, max: number) => {
    const n = (bytes ?? 0) | 0;
    return n < 0 ? 0 : n > max ? max : n;
  };

  // What is bound now, so that a run that changes nothing stores nothing.
  let boundFlow = ownFlow;
  let boundContract = ownContract;
  let pathLength = 0;
  let dataLength = 0;

  /** Maps FLOW or CONTRACT memory (no copy). */
  function bind(p: number, chosen: DataView, bytes: number, atomic: boolean) {
    views[p] = chosen;
    state.onPageView?.(p, chosen);
    const usable = Math.min(bytes, chosen.byteLength);
    readLimit[p] = usable;
    writeLimit[p] = usable;
    atomicLimit[p] = atomic ? usable : 0;
  }

  /** Whether PATH/DATA lengths or FLOW/CONTRACT memory differ from the defaults (0, 0, own, own). */
  let customBinding = false;

  /** Sets this run's PATH/DATA lengths and FLOW/CONTRACT memory (stores only what changes). */
  function applyBindings(runOptions: RunOptions | undefined) {
    let path = 0;
    let data = 0;
    let flow = ownFlow;
    let contract = ownContract;
    if (runOptions !== undefined) {
      path = length(runOptions.pathLengthBytes, PATH_MAX_BYTES);
      data = length(runOptions.dataLengthBytes, DATA_MAX_BYTES);
      flow = runOptions.flowMemory ?? ownFlow;
      contract = runOptions.contractMemory ?? ownContract;
    }
    if (path !== pathLength) readLimit[pathPage] = writeLimit[pathPage] = pathLength = path;
    if (data !== dataLength) readLimit[dataPage] = writeLimit[dataPage] = dataLength = data;
    if (flow !== boundFlow) bind(flowPage, (boundFlow = flow), FLOW_BYTES, false);
    if (contract !== boundContract) bind(contractPage, (boundContract = contract), CONTRACT_BYTES, true);
    customBinding = path !== 0 || data !== 0 || flow !== ownFlow || contract !== ownContract;
  }

  /** Zeroes STACK from the lowest offset the last run wrote. */
  function clearStack(low: number) {
    for (let i = low >>> 3; i < stackDoubles.length; i++) stackDoubles[i] = 0;
    writeLow[stackPage] = PAGE_BYTES;
  }

  /** A legal range [address, address + bytes) of one page for reading (or writing). */
  function inRegion(address: number, bytes: number, write: boolean): boolean {
    const p = address >>> 16;
    const offset = address & 0xffff;
    const limit = write ? state.writeLimit[p]! : state.readLimit[p]!;
    return bytes >= 0 && offset + bytes <= limit;
  }

  /** Performs the ECALL at state.pc; returns a TrapReason (NONE to continue). */
  function service(): number {
    const number = R[Reg.A7]!;
    if (number < 1 || number > 6) return TrapReason.BAD_SERVICE;
    let cost = serviceCost[number]!;
    if (state.fuel < cost) return TrapReason.FUEL_EXHAUSTED;
    switch (number) {
      case Service.EMIT: {
        if (result.emits >= EMIT_MAX_PER_EXECUTION) return TrapReason.EMIT_LIMIT;
        result.emits++;
        R[Reg.A0] = host.emit(regions.action) ? 0 : 1;
        break;
      }
      case Service.FLOW_HASH:
        R[Reg.A0] = host.flowHash(R[Reg.A0]! >>> 0) | 0;
        break;
      case Service.LOOKUP_TAG: {
        const tag = R[Reg.A0]!;
        const out = R[Reg.A1]!;
        const capacity = R[Reg.A2]!;
        if (tag < 0 || tag > 31 || capacity < 0 || capacity > ENGINE_MAX_LINKS)
          return TrapReason.SERVICE_FAULT;
        if (!inRegion(out, capacity * 4, true)) return TrapReason.SERVICE_FAULT;
        const outView = state.views[out >>> 16]!;
        const linkCount = Math.min(engineView.getUint32(EngineField.LINK_COUNT, true), ENGINE_MAX_LINKS);
        let found = 0;
        for (let link = 0; link < linkCount && found < capacity; link++) {
          const at = EngineField.LINK_TABLE + link * ENGINE_LINK_BYTES;
          const up = engineView.getUint32(at + EngineLinkField.UP, true);
          const tags = engineView.getUint32(at + EngineLinkField.TAGS, true);
          if (up === 0 || ((tags >>> tag) & 1) === 0) continue;
          outView.setUint32(
            (out & 0xffff) + found * 4,
            engineView.getUint32(at + EngineLinkField.ID, true),
            true,
          );
          found++;
        }
        if (found > 0 && (out & 0xffff) < state.writeLow[out >>> 16]!)
          state.writeLow[out >>> 16] = out & 0xffff;
        cost += found * servicePerUnit[number]!;
        R[Reg.A0] = found;
        break;
      }
      case Service.TIME: {
        const ms = Math.max(0, Math.floor(host.timeMs()));
        R[Reg.A0] = (ms % 0x1_0000_0000) | 0;
        R[Reg.A1] = Math.floor(ms / 0x1_0000_0000) | 0;
        break;
      }
      case Service.RANDOM:
        R[Reg.A0] = host.random() | 0;
        break;
      case Service.LOG: {
        const address = R[Reg.A0]!;
        const length = R[Reg.A1]!;
        if (length < 0 || length > LOG_MAX_BYTES || !inRegion(address, length, false))
          return TrapReason.SERVICE_FAULT;
        cost += Math.ceil(length / 4) * servicePerUnit[number]!;
        if (state.fuel < cost) return TrapReason.FUEL_EXHAUSTED;
        const v = state.views[address >>> 16]!;
        const bytes = new Uint8Array(v.buffer, v.byteOffset + (address & 0xffff), length);
        R[Reg.A0] = host.log(bytes) ? 0 : 1;
        break;
      }
    }
    if (state.fuel < cost) return TrapReason.FUEL_EXHAUSTED;
    state.fuel -= cost;
    return TrapReason.NONE;
  }

  /** Reads the ACTION set after a normal end into the result (each field written once). */
  function finish() {
    const verdict = actionView.getUint32(ActionField.VERDICT, true);
    const count = actionView.getUint32(ActionField.EGRESS_COUNT, true);
    if (
      verdict === Verdict.DROP ||
      verdict === Verdict.DELIVER ||
      ((verdict === Verdict.FORWARD || verdict === Verdict.REPLICATE) &&
        count >= 1 &&
        count <= EGRESS_MAX_LINKS)
    ) {
      result.verdict = verdict;
      result.trap = TrapReason.NONE;
      result.dropReason = verdict === Verdict.DROP ? actionView.getUint32(ActionField.DROP_REASON, true) : 0;
      result.flags = actionView.getUint32(ActionField.FLAGS, true);
      result.nextEntry = actionView.getUint32(ActionField.NEXT_ENTRY, true);
      result.egressCount = count;
    } else {
      trap(verdict === Verdict.NONE ? TrapReason.NO_VERDICT : TrapReason.BAD_ACTION);
      result.nextEntry = actionView.getUint32(ActionField.NEXT_ENTRY, true);
    }
  }

  /** Ends the run as DROP with `reason` (every result field but fuel, pc, fault address and EMITs). */
  function trap(reason: number) {
    result.verdict = Verdict.DROP;
    result.trap = reason;
    result.dropReason = 0;
    result.flags = 0;
    result.nextEntry = 0;
    result.egressCount = 0;
  }

  /** Sets the result for an exit other than ECALL. */
  function end(exit: number) {
    if (exit === Exit.EBREAK || (exit === Exit.FETCH && state.pc === 0)) finish();
    else if (exit === Exit.FETCH) trap(TrapReason.FETCH_FAULT);
    else if (exit === Exit.FUEL) trap(TrapReason.FUEL_EXHAUSTED);
    else if (exit === Exit.ILLEGAL) trap(TrapReason.ILLEGAL_INSTRUCTION);
    else if (exit === Exit.LOAD_FAULT || exit === Exit.STORE_FAULT) trap(TrapReason.ACCESS_FAULT);
    else if (exit === Exit.MISALIGNED_ATOMIC) trap(TrapReason.MISALIGNED_ATOMIC);
    else trap(TrapReason.ATOMIC_FAULT);
  }

  /**
   * Runs on from `first`: ECALL (perform it, continue after it) or, on the fast tier,
   * NEED_INTERPRETER (its wrapper steps the interpreter and returns to the translation).
   */
  function resume(
    first: number,
    fast: FastTierFunction | undefined,
    decoded: DecodedProgram,
    execute: Executor,
  ) {
    let exit = first;
    for (;;) {
      if (exit === Exit.ECALL) {
        const reason = service();
        if (reason !== TrapReason.NONE) {
          if (reason === TrapReason.FUEL_EXHAUSTED) state.fuel = 0;
          trap(reason);
          return;
        }
        state.pc += 4;
      } else if (exit !== NEED_INTERPRETER) {
        end(exit);
        return;
      }
      exit = fast === undefined ? execute(decoded) : fast(state, decoded);
    }
  }

  function run(program: PreparedProgram, runOptions?: RunOptions): ExecutionResult {
    let budget = defaultBudget;
    let tier = defaultTier;
    let entry = 0;
    if (runOptions !== undefined) {
      budget = (runOptions.budgetInstructions ?? budget) | 0;
      budget = budget < 0 ? 0 : budget > FUEL_MAX ? FUEL_MAX : budget;
      tier = runOptions.tier ?? tier;
      entry = runOptions.entryOffset ?? 0;
    }
    const decoded = program.decoded;
    let fast = program.fast;
    if (tier === 'fast') {
      if (fast === undefined) fast = program.fast = compileFastTier(decoded, fastTierOptions);
    } else fast = undefined;
    const keepMask = fast === undefined ? 0 : fast.entryWrites;
    // Everything a run starts from (written out here, not in a helper: the call measured as a
    // visible part of an empty run): ACTION and the used part of STACK zeroed, the entry registers,
    // PATH/DATA lengths and FLOW/CONTRACT memory bound. The result's other fields are all written
    // when the run ends (`finish` or `trap`, then below).
    // ACTION is 128 bytes: 16 zero doubles, unrolled (a loop measured several times slower).
    const A = actionDoubles;
    A[0] = A[1] = A[2] = A[3] = A[4] = A[5] = A[6] = A[7] = 0;
    A[8] = A[9] = A[10] = A[11] = A[12] = A[13] = A[14] = A[15] = 0;
    const low = writeLow[stackPage]!;
    if (low < STACK_BYTES) clearStack(low);
    if ((dirtyMask & ~keepMask) !== 0) restoreAll();
    state.reservation = -1;
    state.faultAddress = 0;
    state.interpretOnly = false;
    state.fuel = budget;
    if (runOptions !== undefined || customBinding) applyBindings(runOptions);
    result.emits = 0;
    const previousDirty = dirtyMask;
    // What this run may change: everything the program's slots could write (instruction halves
    // included), unless the translation alone ran (then only what it wrote back), see below.
    dirtyMask = decoded.writtenMask;
    state.pc = CODE_BASE + entry;
    if (entry < 0 || entry >= decoded.lengthBytes || (entry & 1) !== 0) {
      // Nothing ran: the registers the fast tier would have written back still need restoring.
      if ((previousDirty & keepMask) !== 0) restoreAll();
      dirtyMask = 0;
      trap(TrapReason.BAD_ENTRY);
    } else if (fast !== undefined) {
      // interpretOnly is cleared: with a budget of at most FUEL_SLICE the translation can start the
      // run itself; most runs end right there, the rest go on in `resume`. A larger budget runs
      // through the wrapper, which hands the translation FUEL_SLICE at a time.
      if (budget <= FUEL_SLICE) {
        const exit = fast.translated(state, true);
        if (exit === NEED_INTERPRETER || exit === Exit.ECALL) resume(exit, fast, decoded, interpretHere);
        else {
          dirtyMask = fast.entryWrites;
          if (exit === Exit.FETCH && state.pc === 0) finish();
          else end(exit);
        }
      } else {
        const exit = fast(state, decoded, true);
        if (exit === Exit.ECALL) resume(exit, fast, decoded, interpretHere);
        else end(exit);
      }
    } else {
      let execute: Executor = interpretHere;
      if (tier === 'native') {
        if (nativeHere === undefined)
          throw new VmError('VM_NO_NATIVE_TIER', "tier 'native' needs the native tier (deps.nativeTier)");
        execute = nativeHere;
      }
      const exit = execute(decoded);
      if (exit === Exit.ECALL) resume(exit, undefined, decoded, execute);
      else if (exit === Exit.FETCH && state.pc === 0) finish();
      else end(exit);
    }
    result.fuelUsed = budget - state.fuel;
    result.pc = state.pc >>> 0;
    result.faultAddress = state.faultAddress >>> 0;
    return result;
  }

  return { regions, registers: R, run };
}
