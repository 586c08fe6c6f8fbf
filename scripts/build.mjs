// Builds the one runtime artefact: the `capsule` CLI bundle. Workspace packages (@capsule/*) are
// compiled in from their TypeScript sources; third-party packages stay external and load from
// node_modules at run time (some are native addons). Type checking is `npm run check`'s job.
//
// Code splitting: the entry (dist/capsule.js) holds the command table and commander only; each
// command area (commands/<area>.ts, loaded with a dynamic import) and the code areas share are
// chunks beside it in dist/, so `capsule --version` loads none of the daemons' code
// (docs/performance.md, "CLI start-up").
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const keepThirdPartyExternal = {
  name: 'keep-third-party-external',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@capsule/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

// `node scripts/build.mjs [OUTDIR]`: the package build (scripts/package.mjs) bundles into its
// staging tree, leaving packages/cli/dist (which tests run) alone.
const outdir = process.argv[2] ?? 'packages/cli/dist';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { capsule: 'packages/cli/src/main.ts' },
  outdir,
  entryNames: '[name]',
  // Chunks beside the entry: code that finds files relative to import.meta.url (the console,
  // examples, the CLI's own bin/) sees the same directory from every chunk.
  chunkNames: '[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [keepThirdPartyExternal],
});

// The completion data of the whole command tree, beside the chunks: `capsule completion bash|zsh`
// reads it instead of loading every command area (packages/cli/src/commands/completion.ts).
const { completionTree } = await import(pathToFileURL(resolve(outdir, 'capsule.js')).href);
const silent = { out() {}, err() {}, env: {}, cwd: process.cwd(), isTty: false, exitCode: 0 };
writeFileSync(join(outdir, 'completion-tree.json'), `${JSON.stringify(await completionTree(silent))}\n`);
