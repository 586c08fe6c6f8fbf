/**
 * Administration verbs against a controller's northbound API: `capsule login`, `capsule
 * create|get|delete <kind>`, `capsule apply -f FILE.yaml`. The login token is kept in a
 * credentials file (`--config FILE`, else `$XDG_CONFIG_HOME/capsule/credentials.json`, else
 * `~/.config/capsule/credentials.json`), mode 0600.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  type ApiClient,
  ApiError,
  controllerUrlProblems,
  createApiClient,
  createControllerReplicas,
  type ProgramImageTransfer,
  type RoleName,
  toProgramImageTransfer,
} from '@capsule/api';
import { ControllerError, createPinnedFetch } from '@capsule/controller';
import { formatCertificateSha256, parseCertificateSha256 } from '@capsule/identity';
import { compile, formatDiagnostic } from '@capsule/sdk';
import Table from 'cli-table3';
import type { Command } from 'commander';
import YAML from 'yaml';
import { CliError } from '../errors';
import type { CliIo } from '../io';

interface Credentials {
  /** The first controller replica (what older credentials files hold alone). */
  url: string;
  /** Every replica `login --url` named, in order: calls move to the next when one fails. */
  urls?: string[];
  /** The controller certificate's SHA-256 pin (hex), when `login --ca-sha256` gave one. */
  caSha256?: string;
  token: string;
  domain: string;
  username: string;
}

function credentialsPath(io: CliIo, config: string | undefined): string {
  if (config) return resolve(io.cwd, config);
  const base = io.env.XDG_CONFIG_HOME || join(io.env.HOME || homedir(), '.config');
  return join(base, 'capsule', 'credentials.json');
}

function loadClient(io: CliIo, config: string | undefined): ApiClient {
  const path = credentialsPath(io, config);
  let credentials: Credentials;
  try {
    credentials = JSON.parse(readFileSync(path, 'utf8')) as Credentials;
  } catch {
    throw new CliError('CLI_NOT_LOGGED_IN', `no credentials in ${path}: run 'capsule login' first`);
  }
  return createApiClient({
    replicas: createControllerReplicas(credentials.urls ?? [credentials.url]),
    token: credentials.token,
    ...(credentials.caSha256 !== undefined && { fetch: createPinnedFetch(pinOf(credentials.caSha256)) }),
  });
}

/**
 * A login that failed on TLS, said plainly: a certificate other than the pinned one (the pinned
 * fetch's error, not "cannot reach"), or the controller's self-signed certificate met without a
 * pin. Undefined for any other failure.
 */
function tlsProblem(error: unknown, pinned: boolean): Error | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof ControllerError) return cause;
  const reason = String((cause as { cause?: { code?: unknown } } | undefined)?.cause?.code ?? '');
  if (!pinned && /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_/.test(reason))
    return new CliError(
      'CLI_BAD_TLS',
      `the controller's certificate is not one this machine's CAs trust (${reason}): give --ca-sha256 with the SHA-256 the controller printed at start ('controller: certificate sha256 …')`,
    );
  return undefined;
}

/**
 * `login`'s `--url` values (the default when none), checked as one replica list: origins, no
 * repeats, at most CONTROLLER_URLS_MAX; with a pin every one https.
 */
function loginUrls(given: readonly string[], pinned: boolean): string[] {
  const urls = given.length > 0 ? [...given] : ['https://127.0.0.1:8700'];
  const problems = controllerUrlProblems(urls, { insecureHttp: !pinned });
  const problem = problems[0];
  if (problem)
    throw new CliError(
      'CLI_BAD_OPTION',
      problem.index === undefined
        ? `--url ${problem.message}`
        : pinned && urls[problem.index]!.startsWith('http:')
          ? `--url ${urls[problem.index]}: with --ca-sha256 every controller URL must be https://`
          : `--url ${urls[problem.index]}: ${problem.message}`,
    );
  return urls;
}

/** A `--ca-sha256` value (64 hex digits, colons and a `sha256:` prefix allowed) as the pin's bytes. */
function pinOf(text: string): Uint8Array {
  const pin = parseCertificateSha256(text);
  if (!pin)
    throw new CliError(
      'CLI_BAD_OPTION',
      '--ca-sha256 is the SHA-256 of the controller certificate: 64 hex digits',
    );
  return pin;
}

/** The kinds the verbs address, with their collection and how their objects are named. */
const kinds = {
  domain: { collection: 'domains', key: 'name' },
  user: { collection: 'users', key: 'login' },
  zone: { collection: 'zones', key: 'name' },
  node: { collection: 'nodes', key: 'hostname' },
  link: { collection: 'links', key: 'id' },
  peering: { collection: 'peerings', key: 'id' },
  template: { collection: 'templates', key: 'name' },
  contract: { collection: 'contracts', key: 'name' },
  service: { collection: 'services', key: 'name' },
  token: { collection: 'service-tokens', key: 'id' },
  endpoint: { collection: 'endpoints', key: 'id' },
  authorization: { collection: 'authorizations', key: 'id' },
  audit: { collection: 'audit', key: 'id' },
} as const;
type Kind = keyof typeof kinds;

/** What `capsule revoke` withdraws (the rest are deleted, not revoked). */
const revocable: readonly Kind[] = ['authorization', 'endpoint', 'node', 'token'];

function kindOf(text: string): Kind {
  const kind = text.replace(/s$/, '') as Kind;
  if (!Object.hasOwn(kinds, kind))
    throw new CliError('CLI_BAD_KIND', `unknown kind '${text}' (one of ${Object.keys(kinds).join(', ')})`);
  return kind;
}

type Item = Record<string, unknown> & { id: number };

async function listAll(client: ApiClient, collection: string): Promise<Item[]> {
  const items: Item[] = [];
  for (let offset = 0; ; offset += 1000) {
    const { body } = await client.request<{ items: Item[]; total: number }>(
      'GET',
      `/api/v1/${collection}?limit=1000&offset=${offset}`,
    );
    items.push(...body.items);
    if (items.length >= body.total || body.items.length === 0) return items;
  }
}

/** Finds an object by id (all digits) or by name (and domain, when given). */
async function resolveObject(client: ApiClient, kind: Kind, ref: string, domain?: string): Promise<Item> {
  const { collection, key } = kinds[kind];
  if (/^\d+$/.test(ref)) return (await client.request<Item>('GET', `/api/v1/${collection}/${ref}`)).body;
  const matches = (await listAll(client, collection)).filter(
    (item) => String(item[key]) === ref && (domain === undefined || item.domain === domain),
  );
  if (matches.length === 0) throw new ApiError('NOT_FOUND', `no ${kind} named ${ref}`);
  if (matches.length > 1)
    throw new CliError(
      'CLI_AMBIGUOUS',
      `${matches.length} ${kind}s are named ${ref}: give --domain or the id`,
    );
  return matches[0]!;
}

function render(io: CliIo, format: string, value: unknown, columns: readonly string[]): void {
  if (format === 'json') {
    io.out(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  if (format === 'yaml') {
    io.out(YAML.stringify(value));
    return;
  }
  if (format !== 'table') throw new CliError('CLI_BAD_OUTPUT', `-o is table, json or yaml, not '${format}'`);
  const rows = Array.isArray(value) ? value : [value];
  const table = new Table({ head: [...columns], style: { head: [], border: [] } });
  for (const row of rows as Record<string, unknown>[]) table.push(columns.map((column) => cell(row[column])));
  io.out(`${table.toString()}\n`);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value))
    return value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  const text = String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const columnsOf: Record<Kind, readonly string[]> = {
  domain: ['id', 'name', 'kind', 'active', 'description'],
  user: ['id', 'login', 'domain', 'roles', 'active', 'zoneId'],
  zone: ['id', 'name', 'netprefix', 'primaryController', 'engineMesh'],
  node: ['id', 'hostname', 'type', 'domain', 'status', 'hostId', 'labels', 'lastKeepaliveAt'],
  link: ['id', 'nodeA', 'nodeZ', 'cost', 'labels', 'adminState', 'status', 'origin'],
  peering: ['id', 'domain', 'peerDomain', 'engineId', 'description'],
  template: ['id', 'name', 'domain', 'enabled', 'roles', 'logicHash'],
  contract: ['id', 'name', 'domain', 'templateId', 'enabled', 'dnsNames'],
  service: ['id', 'name', 'domain', 'enabled', 'grants'],
  token: ['id', 'serviceId', 'domain', 'ident', 'expiresAt', 'token'],
  endpoint: ['id', 'domain', 'serviceId', 'nodeId', 'contractId', 'role', 'hostId'],
  authorization: ['id', 'serial', 'domain', 'role', 'hostId', 'notAfter', 'revokedAt'],
  audit: ['id', 'at', 'actor', 'action', 'objectType', 'objectId'],
};

function readDocument(io: CliIo, file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new CliError('CLI_READ_FAILED', `cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return YAML.parseAllDocuments(text).map((doc) => {
      if (doc.errors.length > 0) throw doc.errors[0];
      return doc.toJS();
    });
  } catch (error) {
    throw new CliError('CLI_BAD_FILE', `${file} is not valid YAML/JSON: ${(error as Error).message}`);
  }
}

const list = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

interface CreateOptions {
  config?: string;
  output: string;
  file?: string;
  domain?: string;
  kind?: string;
  description?: string;
  password?: string;
  roles?: string;
  zone?: string;
  netprefix?: string;
  template?: string;
  role?: string[];
  grant?: string[];
  service?: string;
  ttl?: string;
  engine?: string;
  between?: string[];
  cost?: string;
  labels?: string;
  engineMesh?: boolean;
}

/** A link cost flag: an integer 1..65535. */
function costOf(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535)
    throw new CliError('CLI_BAD_OPTION', `--cost is an integer 1..65535, not '${text}'`);
  return Number(text);
}

/** The link declared between two nodes (by id or hostname), or NOT_FOUND. */
async function linkBetween(client: ApiClient, refs: readonly string[], domain?: string): Promise<Item> {
  const [a, z] = (await Promise.all(refs.map((ref) => resolveObject(client, 'node', ref, domain)))).map(
    (node) => node.id,
  );
  const link = (await listAll(client, 'links')).find(
    (item) => (item.nodeA === a && item.nodeZ === z) || (item.nodeA === z && item.nodeZ === a),
  );
  if (!link) throw new ApiError('NOT_FOUND', `no link between ${refs[0]} and ${refs[1]}`);
  return link;
}

/** The request body of `capsule create <kind> <name> …` from its flags (or from `-f FILE`). */
async function createBody(
  client: ApiClient,
  io: CliIo,
  kind: Kind,
  name: string | undefined,
  o: CreateOptions,
) {
  if (o.file) return readDocument(io, o.file)[0] as Record<string, unknown>;
  const need = (value: string | undefined, flag: string) => {
    if (value === undefined) throw new CliError('CLI_MISSING_OPTION', `create ${kind} needs ${flag}`);
    return value;
  };
  const withDomain = (body: Record<string, unknown>) => (o.domain ? { ...body, domain: o.domain } : body);
  const describe = o.description === undefined ? {} : { description: o.description };
  switch (kind) {
    case 'domain':
      return { name: need(name, '<name>'), kind: o.kind ?? 'application', ...describe };
    case 'user':
      return withDomain({
        login: need(name, '<login>'),
        password: need(o.password ?? io.env.CAPSULE_NEW_PASSWORD, '--password'),
        roles: list(need(o.roles, '--roles')) as RoleName[],
        ...(o.zone ? { zoneId: (await resolveObject(client, 'zone', o.zone)).id } : {}),
      });
    case 'zone':
      return {
        name: need(name, '<name>'),
        netprefix: need(o.netprefix, '--netprefix'),
        ...(o.engineMesh ? { engineMesh: true } : {}),
        ...describe,
      };
    case 'link': {
      // `--between e1 e2` (or a chain `--between e1 e4 e2`: e1–e4 and e4–e2) by hostname or id.
      const between = o.between ?? [];
      if (between.length < 2 || between.length > 10)
        throw new CliError(
          'CLI_MISSING_OPTION',
          'create link needs --between <node> <node> [<node>…] (2 to 10)',
        );
      const ids = [];
      for (const ref of between) ids.push((await resolveObject(client, 'node', ref)).id);
      return withDomain({
        nodeA: ids[0]!,
        nodeZ: ids[ids.length - 1]!,
        ...(ids.length > 2 ? { via: ids.slice(1, -1) } : {}),
        ...(o.cost === undefined ? {} : { cost: costOf(o.cost) }),
        ...(o.labels === undefined ? {} : { labels: list(o.labels) }),
      });
    }
    case 'contract': {
      const template = await resolveObject(client, 'template', need(o.template, '--template'), o.domain);
      const roles = (o.role ?? []).map((spec) => {
        const [role, peer] = spec.split(':');
        if (!role || !peer) throw new CliError('CLI_BAD_OPTION', `--role is name:peer, not '${spec}'`);
        return { name: role, peer };
      });
      return withDomain({ name: need(name, '<name>'), templateId: template.id, roles, ...describe });
    }
    case 'service': {
      const grants = [];
      for (const spec of o.grant ?? []) {
        const [contract, role] = spec.split(':');
        if (!contract || !role)
          throw new CliError('CLI_BAD_OPTION', `--grant is contract:role, not '${spec}'`);
        grants.push({ contractId: (await resolveObject(client, 'contract', contract, o.domain)).id, role });
      }
      return withDomain({ name: need(name, '<name>'), grants, ...describe });
    }
    case 'token': {
      const service = await resolveObject(client, 'service', need(o.service ?? name, '--service'), o.domain);
      return { serviceId: service.id, ...(o.ttl ? { ttlSeconds: Number(o.ttl) } : {}) };
    }
    case 'peering': {
      // `--domain` trusts the engines of <name> (all, or the one of --engine): systemAdmin only.
      const peerDomain = need(name, '<peer domain>');
      const engine = o.engine ? (await resolveObject(client, 'node', o.engine, peerDomain)).id : undefined;
      return withDomain({ peerDomain, ...(engine === undefined ? {} : { engineId: engine }), ...describe });
    }
    case 'template':
      throw new CliError('CLI_MISSING_OPTION', 'create template needs -f FILE (image and roles)');
    default:
      throw new CliError('CLI_BAD_KIND', `cannot create a ${kind} with this command`);
  }
}

/**
 * `apply` documents: `kind` (domain, user, zone, template, contract, service) + the fields of the
 * create body; references by name (`zone`, `template`, grants' `contract`); a domain's kind is
 * `domainKind`; a template's image may come from `imageFile` (JSON).
 */
interface ApplyDocument {
  kind: string;
  [field: string]: unknown;
}

/** Fields `apply` may change on an existing object (the PATCH bodies). */
const patchable: Partial<Record<Kind, readonly string[]>> = {
  domain: ['kind', 'description', 'active'],
  user: ['roles', 'active', 'zoneId'],
  zone: ['primaryController', 'secondaryController', 'description', 'engineMesh'],
  template: ['description', 'multicast', 'labelTags', 'enabled'],
  contract: ['description', 'enabled', 'roles'],
  service: ['description', 'enabled', 'grants'],
};

/**
 * The template image of `program: X.java` (relative to the applied file's directory): compiled
 * with the SDK and put in the form templates take; diagnostics go to stderr.
 */
function compileProgram(io: CliIo, baseDir: string, program: string): ProgramImageTransfer {
  const path = resolve(baseDir, program);
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError('CLI_READ_FAILED', `cannot read ${program}: ${(error as Error).message}`);
  }
  const result = compile(source);
  if (!result.image) {
    for (const d of result.diagnostics) io.err(`${formatDiagnostic(d, program)}\n`);
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    throw new CliError('SDK_COMPILE_FAILED', `${errors} error${errors === 1 ? '' : 's'} in ${program}`);
  }
  return toProgramImageTransfer(result.image);
}

async function applyDocument(
  client: ApiClient,
  io: CliIo,
  document: ApplyDocument,
  baseDir: string,
): Promise<string> {
  const kind = kindOf(String(document.kind).toLowerCase());
  const { kind: _kind, ...spec } = document;
  const body: Record<string, unknown> = { ...spec };
  const domain = typeof body.domain === 'string' ? body.domain : undefined;
  // A domain's own kind cannot be `kind` (that names the document's kind): it is `domainKind`.
  if (kind === 'domain') {
    body.kind = body.domainKind ?? 'application';
    delete body.domainKind;
  }
  // References by name become ids.
  if (kind === 'user' && typeof body.zone === 'string') {
    body.zoneId = (await resolveObject(client, 'zone', body.zone)).id;
    delete body.zone;
  }
  if (kind === 'contract' && typeof body.template === 'string') {
    body.templateId = (await resolveObject(client, 'template', body.template, domain)).id;
    delete body.template;
  }
  if (kind === 'template' && typeof body.program === 'string') {
    body.image = compileProgram(io, baseDir, body.program);
    delete body.program;
  }
  if (kind === 'template' && typeof body.imageFile === 'string') {
    body.image = JSON.parse(readFileSync(resolve(io.cwd, body.imageFile), 'utf8'));
    delete body.imageFile;
  }
  if (kind === 'service' && Array.isArray(body.grants)) {
    const grants = [];
    for (const grant of body.grants as { contract?: string; contractId?: number; role: string }[])
      grants.push({
        contractId:
          grant.contractId ?? (await resolveObject(client, 'contract', String(grant.contract), domain)).id,
        role: grant.role,
      });
    body.grants = grants;
  }
  const { collection, key } = kinds[kind];
  const name = String(body[key]);
  const existing = (await listAll(client, collection)).find(
    (item) =>
      String(item[key]) === name && (domain === undefined || item.domain === domain || kind === 'domain'),
  );
  if (!existing) {
    await client.request('POST', `/api/v1/${collection}`, body);
    return `created ${kind} ${name}`;
  }
  const changes: Record<string, unknown> = {};
  for (const field of patchable[kind] ?? [])
    if (field in body && JSON.stringify(body[field]) !== JSON.stringify(existing[field]))
      changes[field] = body[field];
  if (kind === 'user' && typeof body.password === 'string') {
    // A password cannot be compared (only its hash is stored): apply leaves it as it is.
  }
  if (Object.keys(changes).length === 0) return `unchanged ${kind} ${name}`;
  await client.request('PATCH', `/api/v1/${collection}/${existing.id}`, changes);
  return `updated ${kind} ${name} (${Object.keys(changes).join(', ')})`;
}

/** `capsule login`, `create`, `get`, `delete`, `apply`. */
export function registerAdminCommands(program: Command, io: CliIo): void {
  program
    .command('login')
    .description('log in to a controller and keep the token in the credentials file')
    .option(
      '--url <url>',
      'a controller northbound URL (default https://127.0.0.1:8700); repeat it for replicas: every call goes to the first that answers',
      (url: string, urls: string[]) => [...urls, url],
      [] as string[],
    )
    .option('--domain <domain>', 'login domain', 'default')
    .option('--username <name>', 'user name', 'admin')
    .option('--password <password>', 'password (default: $CAPSULE_PASSWORD)')
    .option(
      '--ca-sha256 <hex>',
      "the controller certificate's SHA-256 (printed by the controller; default $CAPSULE_CA_SHA256): https only, that certificate only",
    )
    .option('--config <file>', 'credentials file')
    .action(
      async (o: {
        url: string[];
        domain: string;
        username: string;
        password?: string;
        caSha256?: string;
        config?: string;
      }) => {
        const password = o.password ?? io.env.CAPSULE_PASSWORD;
        if (!password) throw new CliError('CLI_MISSING_OPTION', 'give --password or set CAPSULE_PASSWORD');
        const pinText = o.caSha256 ?? (io.env.CAPSULE_CA_SHA256 || undefined);
        const pin = pinText === undefined ? undefined : pinOf(pinText);
        const urls = loginUrls(o.url, pin !== undefined);
        const client = createApiClient({
          replicas: createControllerReplicas(urls),
          ...(pin && { fetch: createPinnedFetch(pin) }),
        });
        const { token, expiresAt } = await client
          .login({ domain: o.domain, username: o.username, password })
          .catch((error: unknown) => {
            throw tlsProblem(error, pin !== undefined) ?? error;
          });
        const path = credentialsPath(io, o.config);
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        const credentials: Credentials = {
          url: urls[0]!,
          ...(urls.length > 1 && { urls }),
          ...(pin && { caSha256: formatCertificateSha256(pin) }),
          token,
          domain: o.domain,
          username: o.username,
        };
        writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
        const others =
          urls.length > 1 ? ` (${urls.length - 1} more replica${urls.length > 2 ? 's' : ''} on record)` : '';
        io.out(
          `logged in to ${client.currentUrl} as ${o.username}@${o.domain} until ${expiresAt}${others}\n`,
        );
      },
    );

  program
    .command('create')
    .description('create a domain, user, zone, template, contract, service, token, peering or link')
    .argument('<kind>', 'domain | user | zone | template | contract | service | token | peering | link')
    .argument('[name]', 'the name (login for users; the service for tokens; the peer domain for peerings)')
    .option('-f, --file <file>', 'the request body as YAML or JSON (any kind)')
    .option('--domain <domain>', 'the domain (default: yours)')
    .option('--kind <kind>', 'domain kind: application | infrastructure | administrative')
    .option('--description <text>', 'description')
    .option('--password <password>', 'user password (default: $CAPSULE_NEW_PASSWORD)')
    .option('--roles <roles>', 'user roles, comma-separated')
    .option('--zone <zone>', 'user zone (name or id)')
    .option('--netprefix <prefix>', 'zone /64 prefix')
    .option('--template <template>', 'contract template (name or id)')
    .option('--role <name:peer...>', 'contract role and the role it may talk to (repeat)')
    .option('--grant <contract:role...>', 'service grant (repeat)')
    .option('--service <service>', 'token: the service (name or id)')
    .option('--ttl <seconds>', 'token lifetime')
    .option('--engine <node>', 'peering: trust only this engine of the peer domain (hostname or id)')
    .option(
      '--between <nodes...>',
      'link: its two nodes (hostname or id); more make a chain: --between e1 e4 e2 links e1–e4 and e4–e2',
    )
    .option('--cost <cost>', 'link: its cost, 1..65535 (default 10)')
    .option('--labels <labels>', 'link: its labels, comma-separated')
    .option('--engine-mesh', 'zone: every engine of the zone links to every other')
    .option('-o, --output <format>', 'table | json | yaml', 'table')
    .option('--config <file>', 'credentials file')
    .action(async (kindText: string, name: string | undefined, o: CreateOptions) => {
      const kind = kindOf(kindText);
      const client = loadClient(io, o.config);
      const body = await createBody(client, io, kind, name, o);
      const { body: created } = await client.request('POST', `/api/v1/${kinds[kind].collection}`, body);
      if (kind === 'link' && (o.between?.length ?? 0) > 2) {
        // A chain: show every link it declared.
        const chain = [];
        for (let index = 0; index + 1 < o.between!.length; index++)
          chain.push(await linkBetween(client, o.between!.slice(index, index + 2)));
        render(io, o.output, chain, columnsOf[kind]);
        return;
      }
      render(io, o.output, created, columnsOf[kind]);
    });

  program
    .command('get')
    .description('list objects of a kind, or show one (by id or name)')
    .argument('<kind>', Object.keys(kinds).join(' | '))
    .argument('[ref]', 'id or name')
    .option('--domain <domain>', 'disambiguate a name')
    .option('-o, --output <format>', 'table | json | yaml', 'table')
    .option('--config <file>', 'credentials file')
    .action(
      async (
        kindText: string,
        ref: string | undefined,
        o: { output: string; domain?: string; config?: string },
      ) => {
        const kind = kindOf(kindText);
        const client = loadClient(io, o.config);
        const value = ref
          ? await resolveObject(client, kind, ref, o.domain)
          : await listAll(client, kinds[kind].collection);
        render(io, o.output, value, columnsOf[kind]);
      },
    );

  program
    .command('delete')
    .description('delete an object (by id or name; a link also by its nodes: --between e1 e2)')
    .argument('<kind>', Object.keys(kinds).join(' | '))
    .argument('[ref]', 'id or name')
    .option('--between <nodes...>', 'link: the link between these two nodes (hostname or id)')
    .option('--domain <domain>', 'disambiguate a name')
    .option('--config <file>', 'credentials file')
    .action(
      async (
        kindText: string,
        ref: string | undefined,
        o: { between?: string[]; domain?: string; config?: string },
      ) => {
        const kind = kindOf(kindText);
        if (o.between !== undefined && (kind !== 'link' || o.between.length !== 2))
          throw new CliError('CLI_BAD_OPTION', '--between names the two nodes of a link');
        if ((ref === undefined) === (o.between === undefined))
          throw new CliError(
            'CLI_MISSING_OPTION',
            `delete ${kind} needs <ref>${kind === 'link' ? ' or --between <node> <node>' : ''}`,
          );
        const client = loadClient(io, o.config);
        const item = o.between
          ? await linkBetween(client, o.between, o.domain)
          : await resolveObject(client, kind, ref!, o.domain);
        await client.request('DELETE', `/api/v1/${kinds[kind].collection}/${item.id}`);
        io.out(`deleted ${kind} ${ref ?? o.between!.join('–')}\n`);
      },
    );

  program
    .command('revoke')
    .description(
      'withdraw a credential at once: an authorization (its flow stops at every engine), an endpoint ' +
        '(unregistered, its authorization revoked), a node (decommissioned: endpoints, authorizations, ' +
        'certificate and links), a service token',
    )
    .argument('<kind>', 'authorization | endpoint | node | token')
    .argument('<ref>', 'id (a node also by host name)')
    .option('--domain <domain>', 'disambiguate a name')
    .option('--config <file>', 'credentials file')
    .action(async (kindText: string, ref: string, o: { domain?: string; config?: string }) => {
      const kind = kindOf(kindText);
      if (!revocable.includes(kind))
        throw new CliError('CLI_BAD_KIND', `cannot revoke a ${kind} (one of ${revocable.join(', ')})`);
      const client = loadClient(io, o.config);
      const item = await resolveObject(client, kind, ref, o.domain);
      if (kind === 'authorization') {
        const revoked = await client.authorizations.revoke(item.id);
        io.out(`revoked authorization ${item.id} (serial ${revoked.serial}) at ${revoked.revokedAt}\n`);
        return;
      }
      // Deleting an endpoint, a node or a token is its revocation at the controller (docs/controller.md, "Live policy").
      await client.request('DELETE', `/api/v1/${kinds[kind].collection}/${item.id}`);
      io.out(`revoked ${kind} ${ref}\n`);
    });

  program
    .command('rotate')
    .description(
      "roll a credential without a restart: signing-key (the controller's Ed25519 key; nodes trust the old one until what it signed has expired)",
    )
    .argument('<what>', 'signing-key')
    .option('--config <file>', 'credentials file')
    .action(async (what: string, o: { config?: string }) => {
      if (what !== 'signing-key')
        throw new CliError('CLI_BAD_KIND', `cannot rotate '${what}' (one of: signing-key)`);
      const client = loadClient(io, o.config);
      const { key, replaced } = await client.signingKeys.rotate();
      const hex = (keyId: number) => keyId.toString(16).padStart(4, '0');
      io.out(
        `new signing key ${hex(key.keyId)}: announced to nodes now, signs from ${key.activatesAt}\n` +
          `key ${hex(replaced.keyId)} signs until then; nodes trust it until ${replaced.retiresAt}\n` +
          `other replicas on this store: copy controller-key-${hex(key.keyId)}.pem from this controller's data dir into theirs before ${key.activatesAt}\n`,
      );
    });

  program
    .command('label')
    .description('set the labels of a node or a link at the controller (replaces them; none clears)')
    .argument('<kind>', 'node | link')
    .argument(
      '<refs...>',
      'node: <node> [label...]; link: <node> <node> [label...] (nodes by id or hostname)',
    )
    .option('--domain <domain>', 'disambiguate a hostname')
    .option('-o, --output <format>', 'table | json | yaml', 'table')
    .option('--config <file>', 'credentials file')
    .action(
      async (kindText: string, refs: string[], o: { output: string; domain?: string; config?: string }) => {
        const kind = kindOf(kindText);
        if (kind !== 'node' && kind !== 'link')
          throw new CliError('CLI_BAD_KIND', `label takes node or link, not '${kindText}'`);
        const client = loadClient(io, o.config);
        const ends = kind === 'node' ? 1 : 2;
        if (refs.length < ends)
          throw new CliError(
            'CLI_MISSING_OPTION',
            kind === 'node' ? 'label node needs <node>' : 'label link needs <node> <node>',
          );
        const labels = refs.slice(ends);
        const id =
          kind === 'link'
            ? (await linkBetween(client, refs.slice(0, 2), o.domain)).id
            : (await resolveObject(client, 'node', refs[0]!, o.domain)).id;
        const { body } = await client.request('PATCH', `/api/v1/${kinds[kind].collection}/${id}`, { labels });
        render(io, o.output, body, columnsOf[kind]);
      },
    );

  program
    .command('apply')
    .description('create or update the objects of a YAML file (idempotent; documents apply in order)')
    .requiredOption('-f, --file <file>', 'YAML (multi-document) or JSON; each document has a kind')
    .option('--config <file>', 'credentials file')
    .action(async (o: { file: string; config?: string }) => {
      const client = loadClient(io, o.config);
      const documents = readDocument(io, o.file).flatMap((doc) => (Array.isArray(doc) ? doc : [doc]));
      for (const document of documents) {
        if (!document || typeof document !== 'object' || typeof (document as ApplyDocument).kind !== 'string')
          throw new CliError('CLI_BAD_FILE', 'every document needs a kind');
        const baseDir = dirname(resolve(io.cwd, o.file));
        io.out(`${await applyDocument(client, io, document as ApplyDocument, baseDir)}\n`);
      }
    });
}
