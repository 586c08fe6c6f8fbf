import type { DecodedProgram, Executor, MachineState, NativeTier } from '@capsule/vm';
import { loadAddon } from './native-addon';

/**
 * @capsule/vm's third tier: the interpreter in C++ (addon/rv-core.h, run by addon/vm-executor.cc)
 * over the machine state's own register file and page table, with the same semantics as the
 * interpreter and the fast tier (the property test runs all three side by side). One addon call
 * per run or per resumption after an ECALL: pc, fuel, fault address and LR reservation travel
 * through a 4-entry Int32Array; registers and memory are read and written in place. The page
 * views are told to the addon as the state maps them (`MachineState.onPageView`). Throws
 * TUN_ADDON_MISSING when the addon is not built.
 */
export function createNativeVmTier(): NativeTier {
  const addon = loadAddon();
  return {
    createExecutor(state: MachineState): Executor {
      const io = new Int32Array(4);
      const executor = new addon.VmExecutor(state.regFile, state.pageTable, io);
      const previous = state.onPageView;
      state.onPageView = (page, view) => {
        previous?.(page, view);
        executor.mapPage(page, view.byteLength > 0 ? view : undefined);
      };
      for (let page = 0; page < state.views.length; page++) {
        const view = state.views[page]!;
        if (view.byteLength > 0) executor.mapPage(page, view);
      }
      return (program: DecodedProgram) => {
        io[0] = state.pc;
        io[1] = state.fuel;
        io[2] = state.faultAddress;
        io[3] = state.reservation;
        const exit = executor.run(program.words, program.base, program.lengthBytes);
        state.pc = io[0]!;
        state.fuel = io[1]!;
        state.faultAddress = io[2]!;
        state.reservation = io[3]!;
        return exit;
      };
    },
  };
}
