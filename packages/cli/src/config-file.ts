/**
 * Configuration files of the three daemons (controller, engine, agent): YAML read once and checked
 * against a schema — JSON Schema as TypeBox builds it — with every problem reported at once, each
 * with its key path (`tun.mtu`, `engines[2]`), its line and column in the file, and "did you mean
 * …" for an unknown key or a near-miss value. The one place the CLI turns a config file into data.
 *
 * The checker walks the schema itself instead of using TypeBox's error list because that list
 * reports every branch of a union (`/tun must be string` for a bad `tun.mtu`, since `tun` is
 * `'off' | {…}`) and says `schema is false` for an unknown key; here a union is explained by the
 * branch the value's kind selects. `checkConfigValue` and TypeBox's `Value.Check` agree on every
 * value (config-file.test.ts checks it on generated values).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CapsuleError } from '@capsule/wire';
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { CliError } from './errors';
import type { CliIo } from './io';

/** One problem with a config file. */
export interface ConfigProblem {
  /** The key path: `tun.mtu`, `engines[2]`, `acl.in[0]`; '' for the whole document. */
  path: string;
  /** What is wrong, phrased to follow the path: `must be an integer in 1280..9000, got 'big'`. */
  message: string;
  /** 1-based line and column of the offending key or value, when the file has it. */
  line?: number;
  column?: number;
}

/** A config file with problems: all of them, in file order (`problems`), one per line of the message. */
export class ConfigFileError extends CapsuleError {
  override readonly code = 'CLI_BAD_CONFIG';
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      'CLI_BAD_CONFIG',
      `${file}: ${count}\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** `agent.yaml:12:3: tun.mtu: must be …` (the file part only when the problem has a line). */
export function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === undefined ? '' : `${file}:${problem.line}:${problem.column ?? 1}: `;
  return `${where}${problem.path === '' ? '' : `${problem.path}: `}${problem.message}`;
}

/** Largest config file read (a config is a few KiB; a larger file is a mistake, not a config). */
export const CONFIG_FILE_LIMIT_BYTES = 1024 * 1024;

/** The schema subset the checker understands (what TypeBox's Object/String/Integer/… emit). */
interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  /** A noun phrase for what the value must be (`"host:port"`): used in messages. */
  description?: string;
}

const annotations = new Set(['description', 'title', 'default', 'examples', '$id', '$schema', 'format']);
const understood = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'const',
  'enum',
  'anyOf',
  ...annotations,
]);

/** Throws (a programming error, not a config problem) when a schema uses a keyword the checker does not know. */
export function assertCheckableSchema(schema: unknown, where = '#'): void {
  const node = schema as Record<string, unknown>;
  for (const key of Object.keys(node))
    if (!understood.has(key)) throw new Error(`config schema ${where}: keyword '${key}' is not supported`);
  for (const [key, child] of Object.entries((node.properties as Record<string, unknown>) ?? {}))
    assertCheckableSchema(child, `${where}/properties/${key}`);
  if (typeof node.additionalProperties === 'object')
    assertCheckableSchema(node.additionalProperties, `${where}/additionalProperties`);
  if (node.items) assertCheckableSchema(node.items, `${where}/items`);
  for (const [i, branch] of ((node.anyOf as unknown[] | undefined) ?? []).entries())
    assertCheckableSchema(branch, `${where}/anyOf/${i}`);
}

type Segment = string | number;

/** A problem before it has a position: where it points (the key itself, or its value). */
interface RawProblem {
  segments: Segment[];
  message: string;
  at: 'key' | 'value';
}

/** `tun.mtu`, `engines[2]`. */
export function formatKeyPath(segments: readonly Segment[]): string {
  let text = '';
  for (const segment of segments)
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  return text;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** How a value is shown in a message: `'big'`, `12`, `a list`, `a mapping`, `nothing`. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (isRecord(value)) return 'a mapping';
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  return String(value);
}

/** What a schema accepts, as a noun phrase for messages. */
function describe(schema: Schema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const).replace(/^"|"$/g, "'");
  if (schema.enum) return `one of ${schema.enum.map((v) => shown(v)).join(', ')}`;
  if (schema.anyOf) {
    const parts = schema.anyOf.map(describe);
    const allConstant = schema.anyOf.every((branch) => branch.const !== undefined);
    return allConstant && parts.length > 2 ? `one of ${parts.join(', ')}` : parts.join(' or ');
  }
  if (schema.description) return schema.description;
  switch (schema.type) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'empty';
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      const { minimum: min, maximum: max } = schema;
      if (min !== undefined && max !== undefined) return `${noun} in ${min}..${max}`;
      if (min !== undefined) return `${noun} ≥ ${min}`;
      if (max !== undefined) return `${noun} ≤ ${max}`;
      return noun;
    }
    case 'string': {
      const { minLength: min, maxLength: max } = schema;
      if (min !== undefined && max !== undefined) return `a string of ${min}..${max} characters`;
      if (min === 1) return 'a non-empty string';
      if (max !== undefined) return `a string of at most ${max} characters`;
      return 'a string';
    }
    default:
      return 'a value';
  }
}

/** The JSON kind of a value, as schema `type` names it. */
function kindOf(value: unknown): Schema['type'] {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'boolean') return 'boolean';
  return 'string';
}

/** The kinds a schema can accept (a const's kind; every branch's for a union). */
function kindsOf(schema: Schema): Set<Schema['type']> {
  if (schema.anyOf) return new Set(schema.anyOf.flatMap((branch) => [...kindsOf(branch)]));
  if (schema.const !== undefined) return new Set([kindOf(schema.const)]);
  if (schema.enum) return new Set(schema.enum.map(kindOf));
  if (schema.type === 'number') return new Set(['number', 'integer']);
  return new Set(schema.type ? [schema.type] : []);
}

/**
 * Edit distance, case-insensitive: insertions, deletions, substitutions and transpositions of two
 * adjacent letters cost 1 each (Levenshtein with Damerau's transposition, "optimal string alignment").
 */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const rows: number[][] = [Array.from({ length: y.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= x.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= y.length; j += 1) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[x.length]![y.length]!;
}

/**
 * The candidate closest to `word` when it is close enough to be a typo: at most a third of the
 * longer word's letters apart (at least 1, so `hostname` → `hostName` and `mut` → `mtu`).
 */
export function closestWord(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    const allowed = Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function check(schema: Schema, value: unknown, segments: Segment[], problems: RawProblem[]): void {
  const fail = (message: string) => problems.push({ segments, message, at: 'value' });
  if (schema.anyOf) {
    const branches = schema.anyOf.map((branch) => {
      const found: RawProblem[] = [];
      check(branch, value, segments, found);
      return found;
    });
    if (branches.some((found) => found.length === 0)) return;
    // Explain by the branch the value's kind selects (`tun: {mtu: big}` is the mapping branch's
    // problem, not "must be 'off'"); when none or several do, say what the union accepts.
    const kind = kindOf(value);
    const selected = schema.anyOf
      .map((branch, i) => ({ branch, found: branches[i]! }))
      .filter(({ branch }) => kindsOf(branch).has(kind) && branch.const === undefined);
    if (selected.length > 0) {
      // Several branches of the value's kind (two mappings): the one it is closest to.
      const closest = selected.reduce((best, next) => (next.found.length < best.found.length ? next : best));
      problems.push(...closest.found);
      return;
    }
    const constants = schema.anyOf.filter((b) => b.const !== undefined).map((b) => String(b.const));
    const guess = typeof value === 'string' ? closestWord(value, constants) : undefined;
    fail(`must be ${describe(schema)}, got ${shown(value)}${guess ? ` (did you mean '${guess}'?)` : ''}`);
    return;
  }
  if (schema.const !== undefined) {
    if (value !== schema.const) fail(`must be ${describe(schema)}, got ${shown(value)}`);
    return;
  }
  if (schema.enum) {
    if (!schema.enum.includes(value as never)) {
      const words = schema.enum.filter((v): v is string => typeof v === 'string');
      const guess = typeof value === 'string' ? closestWord(value, words) : undefined;
      fail(`must be ${describe(schema)}, got ${shown(value)}${guess ? ` (did you mean '${guess}'?)` : ''}`);
    }
    return;
  }
  const kind = kindOf(value);
  const kindFits = schema.type === 'number' ? kind === 'number' || kind === 'integer' : kind === schema.type;
  if (schema.type !== undefined && !kindFits) {
    const noun = schema.type === 'string' && !schema.description ? 'a string' : describe(schema);
    fail(`must be ${noun}, got ${shown(value)}`);
    return;
  }
  switch (schema.type) {
    case 'object': {
      const record = value as Record<string, unknown>;
      const properties = schema.properties ?? {};
      const known = Object.keys(properties);
      const misspelt = new Map<string, string>(); // unknown key → the known key it is close to
      for (const key of Object.keys(record))
        if (!Object.hasOwn(properties, key) && schema.additionalProperties === false) {
          const guess = closestWord(key, known);
          if (guess) misspelt.set(key, guess);
        }
      const suggested = new Set(misspelt.values());
      for (const key of schema.required ?? [])
        if (record[key] === undefined && !suggested.has(key))
          problems.push({ segments: [...segments, key], message: 'is required', at: 'key' });
      for (const [key, child] of Object.entries(record)) {
        const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
        if (property) check(property, child, [...segments, key], problems);
        else if (typeof schema.additionalProperties === 'object')
          check(schema.additionalProperties, child, [...segments, key], problems);
        else if (schema.additionalProperties === false) {
          const guess = misspelt.get(key);
          problems.push({
            segments: [...segments, key],
            message: `unknown key${guess ? ` (did you mean '${guess}'?)` : ''}`,
            at: 'key',
          });
        }
      }
      return;
    }
    case 'array': {
      const list = value as unknown[];
      if (schema.minItems !== undefined && list.length < schema.minItems)
        fail(`must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
      if (schema.maxItems !== undefined && list.length > schema.maxItems)
        fail(`must have at most ${schema.maxItems} items, has ${list.length}`);
      if (schema.items)
        for (const [i, item] of list.entries()) check(schema.items, item, [...segments, i], problems);
      return;
    }
    case 'string': {
      const text = value as string;
      // Lengths in code points, as JSON Schema counts them (and TypeBox).
      const length = [...text].length;
      const tooShort = schema.minLength !== undefined && length < schema.minLength;
      const tooLong = schema.maxLength !== undefined && length > schema.maxLength;
      const mismatch = schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(text);
      if (tooShort || tooLong || mismatch)
        fail(
          `must be ${describe(schema)}${mismatch && !schema.description ? ` matching /${schema.pattern}/` : ''}, got ${shown(value)}`,
        );
      return;
    }
    case 'integer':
    case 'number': {
      const number = value as number;
      if (
        (schema.minimum !== undefined && number < schema.minimum) ||
        (schema.maximum !== undefined && number > schema.maximum)
      )
        fail(`must be ${describe(schema)}, got ${shown(value)}`);
      return;
    }
    default:
      return;
  }
}

/** Every problem of `value` against `schema`, without positions, in walk order. */
export function checkConfigValue(schema: unknown, value: unknown): ConfigProblem[] {
  const raw: RawProblem[] = [];
  check(schema as Schema, value, [], raw);
  return raw.map((p) => ({ path: formatKeyPath(p.segments), message: p.message }));
}

/**
 * Extra checks a config needs beyond its schema (ACL syntax, cross-key rules), by key path. They
 * run even when the schema found problems (every problem at once), so `value` is unchecked data:
 * a check looks at what it needs and skips what is not there or of another kind.
 */
export type ConfigCheck = (value: unknown) => { segments: Segment[]; message: string }[];

export interface ParseConfigOptions {
  /** The file name shown in problems. */
  fileName: string;
  /** Checks beyond the schema. */
  check?: ConfigCheck;
  /** Amends the parsed value before the checks (environment overrides such as CAPSULE_AGENT_PASSWORD). */
  edit?: (value: unknown) => unknown;
  /**
   * Top-level keys a former version read and this one refuses, each with what to do instead: such
   * a key is reported as `was removed: <instead>` rather than as an unknown key.
   */
  removedKeys?: Readonly<Record<string, string>>;
}

/**
 * Parses YAML `text` and checks it against `schema` (and `options.check`); returns the value or
 * throws ConfigFileError with every problem, each placed at its line and column.
 */
export function parseConfigText<T>(text: string, schema: unknown, options: ParseConfigOptions): T {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const located: ConfigProblem[] = [];
  const place = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  for (const error of document.errors)
    located.push({
      path: '',
      message: `not valid YAML: ${error.message.split('\n')[0]}`,
      ...place(error.pos[0]),
    });
  if (located.length > 0) throw new ConfigFileError(options.fileName, located);
  let value: unknown;
  try {
    // Aliases expand at most 100 nodes deep in total: a "billion laughs" file is refused, not expanded.
    value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigFileError(options.fileName, [{ path: '', message: (error as Error).message }]);
  }
  if (options.edit) value = options.edit(value);
  const raw: RawProblem[] = [];
  check(schema as Schema, value ?? null, [], raw);
  for (const problem of raw)
    if (problem.segments.length === 1 && problem.message.startsWith('unknown key')) {
      const instead = Object.hasOwn(options.removedKeys ?? {}, problem.segments[0]!)
        ? options.removedKeys![problem.segments[0]!]
        : undefined;
      if (instead !== undefined) problem.message = `was removed: ${instead}`;
    }
  for (const extra of options.check?.(value) ?? []) raw.push({ ...extra, at: 'value' });
  if (raw.length === 0) return value as T;
  const problems = raw.map((problem) => ({
    path: formatKeyPath(problem.segments),
    message: problem.message,
    ...place(offsetOf(document.contents, problem.segments, problem.at, document)),
  }));
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new ConfigFileError(options.fileName, problems);
}

/**
 * Where a key path is in the document: the key's own position (`at: 'key'`, for unknown and
 * missing keys: the nearest existing ancestor), else its value's.
 */
function offsetOf(
  root: unknown,
  segments: readonly Segment[],
  at: 'key' | 'value',
  document: { contents: unknown },
): number | undefined {
  let node = root as Node | null;
  let offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
  for (let i = 0; i < segments.length; i += 1) {
    const segment = segments[i]!;
    if (isAlias(node)) node = node.resolve(document as never) as Node | null;
    let keyOffset: number | undefined;
    let next: Node | null | undefined;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) return offset;
      keyOffset = (pair.key as Node).range?.[0];
      next = pair.value as Node | null;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment] as Node | null | undefined;
      keyOffset = next?.range?.[0];
    } else return offset;
    const last = i === segments.length - 1;
    offset = last && at === 'key' ? keyOffset : (next?.range?.[0] ?? keyOffset);
    node = next ?? null;
  }
  return offset;
}

/** A config file read and checked: the value and the file's absolute path and directory. */
export interface LoadedConfig<T> {
  value: T;
  file: string;
  dir: string;
}

/** A config or environment file's text, at most CONFIG_FILE_LIMIT_BYTES (else CLI_BAD_CONFIG). */
function readConfigText(file: string): string {
  try {
    const bytes = readFileSync(file);
    if (bytes.length > CONFIG_FILE_LIMIT_BYTES)
      throw new Error(`${bytes.length} bytes, more than the ${CONFIG_FILE_LIMIT_BYTES} a config may have`);
    return bytes.toString('utf8');
  } catch (error) {
    throw new CliError('CLI_BAD_CONFIG', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Reads a config file (relative to `cwd`) and checks it: every problem at once (ConfigFileError,
 * `error [CLI_BAD_CONFIG]`).
 */
export function readConfigFile<T>(
  path: string,
  schema: unknown,
  cwd: string,
  options: Omit<ParseConfigOptions, 'fileName'> = {},
): LoadedConfig<T> {
  const file = resolve(cwd, path);
  const text = readConfigText(file);
  return {
    value: parseConfigText<T>(text, schema, { fileName: path, ...options }),
    file,
    dir: dirname(file),
  };
}

/**
 * The variables of an environment file as systemd's `EnvironmentFile=` reads it (the subset the
 * units' `.env` files use): `KEY=VALUE` per line, `#` and `;` comment lines, blank lines, an
 * optional `export ` prefix, a value in single or double quotes taken without them. A line that is
 * none of these is a problem reported with its line number (all of them at once), never guessed at.
 */
export function parseEnvironmentText(file: string, text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) {
      problems.push({ path: '', message: 'is not KEY=VALUE', line: index + 1, column: 1 });
      return;
    }
    const value = match[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(value);
    variables[match[1]!] = quoted ? quoted[2]! : value;
  });
  if (problems.length > 0) throw new ConfigFileError(file, problems);
  return variables;
}

/** `parseEnvironmentText` of a file (relative to `cwd`). */
export function readEnvironmentFile(path: string, cwd: string): Record<string, string> {
  return parseEnvironmentText(path, readConfigText(resolve(cwd, path)));
}

/**
 * `io` with the variables of `envFile` over its environment (check-config's `--env-file`: a
 * daemon's password lives in the EnvironmentFile its unit reads, not in the operator's shell).
 */
export function withEnvironmentFile(io: CliIo, envFile: string | undefined): CliIo {
  if (envFile === undefined) return io;
  return { ...io, env: { ...io.env, ...readEnvironmentFile(envFile, io.cwd) } };
}
