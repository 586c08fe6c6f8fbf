/**
 * How `npm run bench [-- ARG…]` reads its arguments (bench/run.ts): each ARG that names a
 * benchmark (bench/NAME.bench.ts) selects it; `--option value` and `--option=value` are passed to
 * every selected benchmark's `run(options)`, which reads the ones it knows and refuses the rest
 * (`npm run bench:dataplane -- --rounds 5`). A word that is neither is an error, so a misspelt
 * name never starts every benchmark.
 */
export interface BenchArgs {
  /** The benchmarks named (empty: all). */
  names: string[];
  /** The options, in order, as given (`--rounds`, `5`, `--x=y`). */
  options: string[];
}

export function splitBenchArgs(argv: readonly string[], known: readonly string[]): BenchArgs {
  const isName = (arg: string) => known.includes(arg);
  const names: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (isName(arg)) names.push(arg);
    else if (arg.startsWith('--') && arg.length > 2) {
      options.push(arg);
      const next = argv[i + 1];
      // `--option value`: the next word is its value unless it is an option or a benchmark.
      if (!arg.includes('=') && next !== undefined && !next.startsWith('-') && !isName(next)) {
        options.push(next);
        i += 1;
      }
    } else
      throw new Error(
        `unknown benchmark '${arg.slice(0, 40)}' (known: ${known.join(', ')}; options are --name value)`,
      );
  }
  return { names, options };
}
