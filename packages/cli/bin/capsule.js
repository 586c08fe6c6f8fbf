#!/usr/bin/env node
// The `capsule` command: runs the bundle built by `npm run build` (run by `npm ci` too).
import { runCli } from '../dist/capsule.js';

process.exitCode = await runCli(process.argv.slice(2));
