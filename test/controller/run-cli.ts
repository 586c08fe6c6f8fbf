/** Runs the `capsule` CLI from source (for whole-system tests that need a real process). */
import { runCli } from '../../packages/cli/src/main.ts';

process.exitCode = await runCli(process.argv.slice(2));
