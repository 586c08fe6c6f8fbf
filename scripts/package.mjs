// `npm run package`: builds the Debian package build/capsule_<version>_<arch>.deb — one artifact
// that installs Capsule on a Debian 12 machine with no npm, no compiler and no network:
//
//   /usr/bin/capsule                          the command (a wrapper: the bundled Node runs the CLI)
//   /usr/lib/capsule/node                     the Node.js binary this build ran on: the native addons
//                                             (better-sqlite3, the TUN/UDP addon) are compiled for its
//                                             ABI, so they load (Debian 12's own nodejs is 18)
//   /usr/lib/capsule/packages/cli/            the CLI bundle (bin/, dist/ with its chunks)
//   /usr/lib/capsule/packages/controller/console/  the web console's files
//   /usr/lib/capsule/node_modules/            the production dependencies, addons compiled
//   /usr/lib/capsule/examples/                use cases, programs and lab topologies (capsule demo)
//   /lib/systemd/system/capsule-{controller,engine,agent}.service
//   /etc/capsule/{controller,engine,agent}.yaml   example configs (conffiles)
//   /usr/share/bash-completion/completions/capsule, /usr/share/zsh/vendor-completions/_capsule
//   /usr/share/doc/capsule/                   install.md, README.md
//
// and a postinst that creates the `capsule` system user. Everything comes from this checkout and
// its node_modules (run `npm ci` first); nothing is fetched. docs/install.md says how to use it.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'build');
const stage = join(out, 'deb');
const lib = join(stage, 'usr/lib/capsule');
const version = JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).version;
const architecture = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const say = (line) => process.stdout.write(`package: ${line}\n`);

rmSync(stage, { recursive: true, force: true });
mkdirSync(lib, { recursive: true });
// A fresh bundle, built straight into the package (packages/cli/dist, which tests run, is left alone).
execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), join(lib, 'packages/cli/dist')], {
  cwd: root,
  stdio: 'inherit',
});

const copy = (from, to = from) => {
  const target = join(lib, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(root, from), target, { recursive: true, dereference: true });
};

// 1. Node, the CLI bundle, the console, the examples.
cpSync(process.execPath, join(lib, 'node'));
chmodSync(join(lib, 'node'), 0o755);
for (const path of ['packages/cli/package.json', 'packages/cli/bin', 'packages/controller/console'])
  copy(path);
for (const path of ['examples/use-cases', 'examples/programs', 'examples/lab']) copy(path);

// 2. Production dependencies: what `npm ls` lists for the CLI without dev dependencies. Workspace
// packages are compiled into the bundle; those with a native addon ship their package.json and
// compiled .node files, which the bundle loads through node_modules.
const listed = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '-w', '@capsule/cli'], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 16 << 20,
})
  .split('\n')
  .map((line) => relative(root, line.trim()))
  .filter((path) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path));
/**
 * The Debian packages of the shared libraries a compiled addon links (ldd, then `dpkg -S`; with
 * Debian 12's merged /usr a library ldd finds in /lib is owned under /usr/lib), such as libsodium23
 * for @capsule/native built with libsodium-dev: they join the package's Depends.
 */
function libraryPackagesOf(addon) {
  const owners = [];
  for (const line of execFileSync('ldd', [addon], { encoding: 'utf8' }).split('\n')) {
    const path = /=> (\/\S+)/.exec(line)?.[1];
    if (path === undefined) continue;
    for (const candidate of [path, path.replace(/^\/lib\//, '/usr/lib/')]) {
      let found;
      try {
        found = execFileSync('dpkg', ['-S', candidate], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
      } catch {
        continue;
      }
      owners.push(found.split(':')[0]);
      break;
    }
  }
  return owners;
}
/** Always depended on (the C and C++ runtimes, the lab's `ip`, the postinst's useradd). */
const baseDepends = ['libc6 (>= 2.28)', 'libstdc++6', 'libgcc-s1', 'iproute2', 'passwd'];
const linked = new Set();
let packages = 0;
for (const path of new Set(listed)) {
  if (path.startsWith('node_modules/@capsule/')) continue;
  copy(path);
  packages += 1;
}
for (const name of readdirSync(join(root, 'packages'))) {
  const release = join(root, 'packages', name, 'build/Release');
  if (!existsSync(release)) continue;
  const addons = readdirSync(release).filter((file) => file.endsWith('.node'));
  if (addons.length === 0) continue;
  copy(`packages/${name}/package.json`, `node_modules/@capsule/${name}/package.json`);
  for (const addon of addons) {
    copy(`packages/${name}/build/Release/${addon}`, `node_modules/@capsule/${name}/build/Release/${addon}`);
    for (const owner of libraryPackagesOf(join(release, addon))) linked.add(owner);
  }
  say(`native addon @capsule/${name}: ${addons.join(', ')}`);
}
say(`${packages} production dependencies`);

// Not needed at run time: type declarations, source maps of dependencies, docs, build
// intermediates and sources of the native addons (their .node files stay).
const prune = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (/^(obj|obj\.target|\.deps|\.github)$/.test(entry.name))
        rmSync(path, { recursive: true, force: true });
      else prune(path);
    } else if (
      /\.(d\.[cm]?ts|md|markdown|map|gyp|gypi|mk|a|cc|cpp|c|h|hpp)$/i.test(entry.name) ||
      entry.name === 'Makefile'
    )
      rmSync(path, { force: true });
  }
};
prune(join(lib, 'node_modules'));
for (const dir of ['src', 'deps'])
  rmSync(join(lib, 'node_modules/better-sqlite3', dir), { recursive: true, force: true });
rmSync(join(lib, 'node_modules/better-sqlite3/build/Release/test_extension.node'), { force: true });

// 3. The command, units, configs, completions, docs.
const write = (path, text, mode = 0o644) => {
  const target = join(stage, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  chmodSync(target, mode);
};
write(
  'usr/bin/capsule',
  // --no-memory-reducer: no idle-time compacting collections under the daemons' fast paths (the
  // lab's daemonNodeFlags; docs/performance.md).
  '#!/bin/sh\n# The capsule command: the CLI bundle on the Node.js that ships with it (/usr/lib/capsule/node).\nexec /usr/lib/capsule/node --no-memory-reducer /usr/lib/capsule/packages/cli/bin/capsule.js "$@"\n',
  0o755,
);
for (const unit of readdirSync(join(root, 'packaging/systemd')))
  write(`lib/systemd/system/${unit}`, readFileSync(join(root, 'packaging/systemd', unit), 'utf8'));
const installedConfig = (name, edit) =>
  write(
    `etc/capsule/${name}.yaml`,
    `# Installed by the capsule package (a conffile: your changes are kept on upgrade).\n# Check it with: capsule ${name} check-config /etc/capsule/${name}.yaml\n${edit(readFileSync(join(root, `examples/${name}.yaml`), 'utf8'))}`,
    0o640,
  );
installedConfig('controller', (text) => text);
installedConfig('engine', (text) => text.replace(/^dataDir: .*$/m, 'dataDir: /var/lib/capsule/engine'));
installedConfig('agent', (text) => text.replace(/^dataDir: .*$/m, 'dataDir: /var/lib/capsule/agent'));
const cli = (args) =>
  execFileSync(process.execPath, [join(lib, 'packages/cli/bin/capsule.js'), ...args], { encoding: 'utf8' });
write('usr/share/bash-completion/completions/capsule', cli(['completion', 'bash']));
write('usr/share/zsh/vendor-completions/_capsule', cli(['completion', 'zsh']));
write('usr/share/doc/capsule/install.md', readFileSync(join(root, 'docs/install.md'), 'utf8'));
write('usr/share/doc/capsule/README.md', readFileSync(join(root, 'README.md'), 'utf8'));

// 4. Debian control files.
for (const script of ['postinst', 'prerm', 'postrm'])
  write(`DEBIAN/${script}`, readFileSync(join(root, 'packaging/debian', script), 'utf8'), 0o755);
write('DEBIAN/conffiles', ['controller', 'engine', 'agent'].map((n) => `/etc/capsule/${n}.yaml\n`).join(''));
const installedKiB = Number(
  execFileSync('du', ['-sk', '--exclude=DEBIAN', stage], { encoding: 'utf8' }).split('\t')[0],
);
write(
  'DEBIAN/control',
  `Package: capsule
Version: ${version}
Architecture: ${architecture}
Maintainer: Capsule developers <capsule@localhost>
Installed-Size: ${installedKiB}
Depends: ${[...baseDepends, ...[...linked].filter((name) => !baseDepends.some((base) => base.split(' ')[0] === name)).sort()].join(', ')}
Recommends: systemd
Suggests: postgresql
Section: net
Priority: optional
Description: network microservices: packets that carry signed RISC-V programs
 Capsule gives applications network services — micro-segmentation, load
 balancing, multicast, service chaining, path selection — without configuring
 a device: the controller signs small programs, engines run them on each
 packet, and an agent on every host gives it a cryptographic identity, a TUN
 interface and a resolver for .capsule names.
 .
 This package holds the capsule command, its Node.js runtime and dependencies,
 and systemd units for the controller, the engine and the agent.
`,
);

// 5. The package.
const deb = join(out, `capsule_${version}_${architecture}.deb`);
rmSync(deb, { force: true });
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-z3', '--build', stage, deb], { stdio: 'inherit' });
say(
  `${relative(root, deb)}: ${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB, ${(installedKiB / 1024).toFixed(0)} MiB installed`,
);
