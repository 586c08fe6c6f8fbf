// Builds the one runtime artefact: the `capsule` CLI bundle. Workspace packages (@capsule/*) are
// compiled in from their TypeScript sources; third-party packages stay external and load from
// node_modules at run time (some are native addons). Type checking is `npm run check`'s job.
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

await build({
  entryPoints: { capsule: 'packages/cli/src/main.ts' },
  outdir: 'packages/cli/dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [keepThirdPartyExternal],
});
