#!/usr/bin/env node
// A mutation run over the data path's checks: each guard — an `if` whose consequence is a drop or
// a hand-up — is disabled in turn (`if (false && (COND))`), the code rebuilt where it is native,
// and the target's tests run; a guard whose removal no test notices is a check no test guards.
// The sources are restored (and the addon rebuilt) at the end, whatever happens. Some survivors
// are guards that a check before them already covers, or that no input reaches (docs/engine.md
// and docs/agent.md, "Tests"): read each.
//
//   node scripts/mutate-guards.mjs [--target native|engine|agent|overlay|wire|identity|vm|api|controller] [--tests A,B] [--list] [LINE …]
//
// --list prints each guard as it would be disabled, and runs nothing; --tests runs these test
// files (or folders) instead of the target's.
//
// Targets:
//   native  the fast path's hand-up guards, `if (…) return Up|IngressUp|EgressUp(…)` of
//           packages/native/addon/fast-path.cc (the default); about 30 s a guard on 2 cores
//   engine  the pipeline's drops, `… return drop(DropReason.…)`, `return refuse(…)`, `return
//           DropReason.…` of packages/engine/src/{engine,egress,authorizations,programs}.ts;
//           about 10 s a guard
//   agent   the data plane's drops, `if (…) { plane.drop(…)` and `… return plane.drop(…)` of
//           packages/agent/src/{ingress,egress}.ts; about 15 s a guard
//   overlay the link layer's refusals, `… return rejectHandshake(…)` / `return reject(…)` and
//           `if (…) { drops.… += 1` of packages/overlay/src/{create-link-layer,handshake}.ts, and
//           the DATA frame's (`return 'replayed' | 'badTag' | SEAL_…`) of data-frame.ts
//   wire    the decoders' refusals (`… return decodeFailure(…)`, `return this.fail(…)`, `return {
//           code: …`) of the capsule header, link frame, sealed payload, chunks, ND and IP codecs
//   identity the verifiers' refusals (`… return { ok: false …` and `return 'reason';`) of CGA, SeND
//           signature and freshness, flow authorization, node and TLS certificates, controller keys
//   api     the node command decoder's refusals (`if (…) refuse(…)`) and the controller keys'
//           (`return { ok: false, problem: …`) of packages/api/src/{node-command,controller-keys}.ts
//   vm      the program verifier's refusals (`if (…) diagnostics.push({ code: …`) of
//           packages/vm/src/verifier.ts
//   controller  RBAC and authentication: `… throw new ApiError('FORBIDDEN' | 'UNAUTHENTICATED' |
//           'NOT_FOUND'` guards and `requirePermission|Visible|DomainWrite|Grantable(…)` calls
//           (each removed) of the controller's handlers (see the list below)
// LINE selects guards: a number, a line of the target's first file; FILE:LINE (FILE the path's
// last part or more, as the run prints it), a line of any of its files. Not part of the test command: a
// tool for whoever changes these checks.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const build = join(root, 'packages/native/build');
const make = () => spawnSync('make', ['-C', build, 'BUILDTYPE=Release'], { encoding: 'utf8' });

const targets = {
  native: {
    files: ['packages/native/addon/fast-path.cc'],
    consequence: /\breturn (Up|IngressUp|EgressUp)\(/,
    tests: [
      'test/engine/fast-path.test.ts',
      'test/engine/fast-path-program.test.ts',
      'packages/agent/src/fast-path.test.ts',
    ],
    rebuild: make,
  },
  engine: {
    files: [
      'packages/engine/src/engine.ts',
      'packages/engine/src/egress.ts',
      'packages/engine/src/authorizations.ts',
      'packages/engine/src/programs.ts',
    ],
    consequence: /\breturn (drop|refuse)\(|\breturn DropReason\./,
    tests: ['packages/engine'],
  },
  agent: {
    files: ['packages/agent/src/ingress.ts', 'packages/agent/src/egress.ts'],
    consequence: /\bplane\.drop\(/,
    tests: ['packages/agent'],
  },
  overlay: {
    files: [
      'packages/overlay/src/create-link-layer.ts',
      'packages/overlay/src/handshake.ts',
      'packages/overlay/src/data-frame.ts',
    ],
    consequence:
      /\breturn (rejectHandshake|reject)\(|^\s*drops\.[a-zA-Z]+ \+= 1;|\breturn ('replayed'|'badTag'|SEAL_[A-Z]+);/,
    tests: ['packages/overlay'],
  },
  wire: {
    files: [
      'packages/wire/src/capsule-header.ts',
      'packages/wire/src/link-frame.ts',
      'packages/wire/src/sealed-payload.ts',
      'packages/wire/src/path-chunk.ts',
      'packages/wire/src/code-chunk.ts',
      'packages/wire/src/trace-chunk.ts',
      'packages/wire/src/transport-chunk.ts',
      'packages/wire/src/program-image.ts',
      'packages/wire/src/nd-message.ts',
      'packages/wire/src/nd-option.ts',
      'packages/wire/src/ipv6.ts',
      'packages/wire/src/ipv4.ts',
      'packages/wire/src/icmpv4.ts',
      'packages/wire/src/icmpv6.ts',
      'packages/wire/src/tcp.ts',
      'packages/wire/src/udp.ts',
      'packages/wire/src/dns-message.ts',
      'packages/wire/src/pcap.ts',
      'packages/wire/src/ip-address.ts',
    ],
    consequence:
      /\breturn (decodeFailure|this\.fail)\(|\breturn \{ code: '|\breturn \{ ok: false, message: '/,
    tests: ['packages/wire'],
  },
  identity: {
    files: [
      'packages/identity/src/cga.ts',
      'packages/identity/src/send-signature.ts',
      'packages/identity/src/send-freshness.ts',
      'packages/identity/src/flow-authorization.ts',
      'packages/identity/src/node-certificate.ts',
      'packages/identity/src/certificate.ts',
      'packages/identity/src/controller-key.ts',
      'packages/identity/src/payload-cipher.ts',
    ],
    consequence: /\breturn \{ ok: false\b|\breturn '[a-z-]+';/,
    tests: ['packages/identity'],
  },
  vm: {
    files: ['packages/vm/src/verifier.ts'],
    consequence: /^\s*diagnostics\.push\(\{/,
    tests: ['packages/vm'],
  },
  api: {
    files: ['packages/api/src/node-command.ts', 'packages/api/src/controller-keys.ts'],
    consequence: /\brefuse\(|\breturn \{ ok: false, problem: /,
    tests: ['packages/api'],
  },
  controller: {
    files: [
      'packages/controller/src/rbac.ts',
      'packages/controller/src/context.ts',
      'packages/controller/src/http.ts',
      'packages/controller/src/northbound.ts',
      'packages/controller/src/resources.ts',
      'packages/controller/src/topology-view.ts',
      'packages/controller/src/authorization-revocation.ts',
      'packages/controller/src/signing-key-rotation.ts',
      'packages/controller/src/southbound/node-registration.ts',
    ],
    consequence: /\bthrow new ApiError\(\s*'(FORBIDDEN|UNAUTHENTICATED|NOT_FOUND)'/,
    // The RBAC checks called as statements: each call removed in turn.
    statement: /^\s*(if \(.*\) )?require(Permission|Visible|DomainWrite|Grantable)\(.*\);$/,
    tests: ['packages/controller', '--exclude', '**/console-browser.test.ts'],
  },
};

const args = process.argv.slice(2);
const targetAt = args.indexOf('--target');
const name = targetAt >= 0 ? args.splice(targetAt, 2)[1] : 'native';
const target = targets[name];
if (target === undefined) {
  console.error(`mutate-guards: no target '${name}' (${Object.keys(targets).join(', ')})`);
  process.exit(2);
}
const testsAt = args.indexOf('--tests');
if (testsAt >= 0) target.tests = args.splice(testsAt, 2)[1].split(',');
const listOnly = args.includes('--list');
const only = new Set(
  args.filter((arg) => arg !== '--list').map((arg) => (/^\d+$/.test(arg) ? Number(arg) : arg)),
);

/**
 * The guards of `lines`: the `if` a consequence line belongs to (on its line, or the condition
 * closing on the line before it, with `{` or without), as the lines to change and how.
 */
function guardsOf(lines) {
  const guards = [];
  for (let i = 0; i < lines.length; i++) {
    if (target.statement?.test(lines[i])) {
      guards.push({ first: i, last: i, text: lines[i].trim(), removed: true });
      continue;
    }
    // A consequence whose call breaks after its `(` is read with its next line.
    const line = lines[i].endsWith('(') ? `${lines[i]}${lines[i + 1]?.trim() ?? ''}` : lines[i];
    if (!target.consequence.test(line)) continue;
    const sameLine = /^(\s*(?:} else )?)if \((.*)\) (\{ )?(return |plane\.|throw |refuse\()/.exec(lines[i]);
    if (sameLine) {
      guards.push({ first: i, last: i, text: lines[i].trim() });
      continue;
    }
    // The condition ends on the line before (`) {` or `)`), and starts at the nearest `if (` above.
    const end = i - 1;
    if (end < 0 || !/\)( \{)?\s*$/.test(lines[end])) continue;
    let start = end;
    while (start >= 0 && start > end - 8 && !/\bif \(/.test(lines[start])) start--;
    if (start < 0 || start <= end - 8) continue;
    guards.push({
      first: start,
      last: end,
      text: lines
        .slice(start, i + 1)
        .map((line) => line.trim())
        .join(' '),
    });
  }
  return guards;
}

/** `lines` with the guard disabled (`if (false && (COND))`), or the checking call removed. */
function disabled(lines, { first, last, removed }) {
  const mutant = [...lines];
  if (removed) {
    mutant[first] = mutant[first].replace(/\S.*$/, 'void 0; // removed');
    return mutant;
  }
  if (first === last && !/\)( \{)?\s*$/.test(mutant[last])) {
    mutant[first] = mutant[first].replace(
      /\bif \((.*)\) (\{ )?(return |plane\.|throw |refuse\()/,
      'if (false && ($1)) $2$3',
    );
    return mutant;
  }
  mutant[first] = mutant[first].replace(/\bif \(/, 'if (false && (');
  mutant[last] = mutant[last].replace(/\)( \{)?(\s*)$/, '))$1$2');
  return mutant;
}

/** Whether the TypeScript source parses (a mutant that does not would be 'killed' by its syntax). */
function parses(file, text) {
  if (!file.endsWith('.ts')) return true;
  const ts = createRequire(join(root, 'package.json'))('typescript');
  const out = ts.transpileModule(text, { reportDiagnostics: true, fileName: file });
  return (out.diagnostics ?? []).length === 0;
}

const RUN_LIMIT_MS = 300_000;
const originals = target.files.map((file) => readFileSync(join(root, file), 'utf8'));
// Interrupted (Ctrl-C, a timeout's SIGTERM): the sources as they were before exiting.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => {
    for (const [index, file] of target.files.entries()) writeFileSync(join(root, file), originals[index]);
    console.error(
      `mutate-guards: ${signal}; sources restored${target.rebuild ? ' (rebuild the addon: make)' : ''}`,
    );
    process.exit(130);
  });
const survivors = [];
let tried = 0;
try {
  for (const [index, file] of target.files.entries()) {
    const lines = originals[index].split('\n');
    for (const guard of guardsOf(lines)) {
      const line = guard.first + 1;
      const where = `${file}:${line}`;
      const selected = only.has(line) ? index === 0 : [...only].some((pick) => where.endsWith(`/${pick}`));
      if (only.size > 0 && !selected) continue;
      const mutant = disabled(lines, guard).join('\n');
      if (!parses(file, mutant)) {
        console.log(`${where}\tnot mutated (the mutant does not parse)\t${guard.text}`);
        continue;
      }
      tried++;
      if (listOnly) {
        const changed = disabled(lines, guard).slice(guard.first, guard.last + 1);
        console.log(`${where}\t${changed.map((text) => text.trim()).join(' ⏎ ')}`);
        continue;
      }
      writeFileSync(join(root, file), mutant);
      if (target.rebuild && target.rebuild().status !== 0) {
        console.log(`${where}\tbuild failed\t${guard.text}`);
        writeFileSync(join(root, file), originals[index]);
        continue;
      }
      // A mutant may make a loop endless (a cursor that no longer advances): a run that does not
      // end in RUN_LIMIT_MS counts as killed (the tests noticed: they did not finish).
      const run = spawnSync('npx', ['vitest', 'run', '--bail', '1', ...target.tests], {
        cwd: root,
        encoding: 'utf8',
        timeout: RUN_LIMIT_MS,
        killSignal: 'SIGKILL',
      });
      writeFileSync(join(root, file), originals[index]);
      const timedOut = run.error !== undefined || run.signal !== null;
      const killed = timedOut || run.status !== 0;
      if (!killed) survivors.push(where);
      console.log(
        `${where}\t${timedOut ? 'killed (the tests did not end)' : killed ? 'killed' : 'SURVIVED'}\t${guard.text}`,
      );
    }
  }
} finally {
  for (const [index, file] of target.files.entries()) writeFileSync(join(root, file), originals[index]);
  if (!listOnly && target.rebuild && target.rebuild().status !== 0)
    console.error('mutate-guards: rebuilding the original failed; run npm ci');
}
if (tried === 0) {
  console.error('mutate-guards: no guard mutated');
  process.exit(2);
}
if (!listOnly)
  console.log(`${tried - survivors.length} of ${tried} killed; survived: ${survivors.join(' ') || 'none'}`);
