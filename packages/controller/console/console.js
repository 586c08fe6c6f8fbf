// The Capsule web console: a client of the northbound API (/api/v1) with a bearer token kept in
// sessionStorage. Every URL is relative to this page (served at /console/), so the console works
// behind any host name or address. Data is only ever written with textContent (or as cytoscape
// labels, drawn on a canvas), never as HTML.
//
// Views: the topology (a graph drawn with cytoscape: nodes by name, links with cost, state and
// flow count, refreshed every few seconds), flows (the flow authorizations, with Trace and Revoke),
// endpoints (with Trace and Delete), nodes (with Decommission),
// a trace (an endpoint's computed paths, hop by hop, highlighted on the graph), and a table per
// collection; zones, users, templates, contracts, services and domains can be created and edited.

import cytoscape from './cytoscape.mjs';

const api = '../api/v1/';
const tokenKey = 'capsule.console.token';
const whoKey = 'capsule.console.who';
/** How often the topology's states and flow counts are read again while it is shown. */
const topologyRefreshMs = 5000;

const text = (value) => (value === null || value === undefined ? '' : String(value));
const list = (values) => (Array.isArray(values) ? values.join(', ') : '');
const when = (value) => (value ? new Date(value).toISOString().replace('T', ' ').slice(0, 19) : '');
const json = (value) => (value === undefined ? '' : JSON.stringify(value, null, 2));

/**
 * Form fields of the create and edit forms: [name, label, kind, where] — kind is text, password,
 * number, bool, list (comma-separated), json, or an array of choices; where is 'create', 'edit' or
 * 'both'. An empty optional field is left out of the request.
 */
const zoneForm = [
  ['name', 'name', 'text', 'create'],
  ['netprefix', 'netprefix (an IPv6 /64)', 'text', 'create'],
  ['primaryController', 'primary controller', 'text', 'both'],
  ['secondaryController', 'secondary controller', 'text', 'both'],
  ['description', 'description', 'text', 'both'],
];
const userForm = [
  ['login', 'login', 'text', 'create'],
  ['domain', 'domain (default: yours)', 'text', 'create'],
  ['password', 'password', 'password', 'both'],
  ['roles', 'roles (comma-separated)', 'list', 'both'],
  ['active', 'active', 'bool', 'both'],
  ['zoneId', 'zone id (node users)', 'number', 'both'],
];
const templateForm = [
  ['name', 'name', 'text', 'create'],
  ['domain', 'domain (default: yours)', 'text', 'create'],
  ['description', 'description', 'text', 'both'],
  ['orientation', 'orientation', ['directed', 'undirected'], 'create'],
  ['multicast', 'multicast', 'bool', 'both'],
  ['image', 'program image (JSON: code, entries, dataSize, …)', 'json', 'create'],
  ['roles', 'roles (JSON: [{name, entry, variables?}])', 'json', 'create'],
  ['labelTags', 'label tags (JSON: [{label, bit}])', 'json', 'both'],
];
const contractForm = [
  ['name', 'name', 'text', 'create'],
  ['templateId', 'template id', 'number', 'create'],
  ['domain', 'domain (default: yours)', 'text', 'create'],
  ['description', 'description', 'text', 'both'],
  ['enabled', 'enabled', 'bool', 'both'],
  ['roles', 'roles (JSON: [{name, peer, variables?, pathLabels?}])', 'json', 'both'],
];
const serviceForm = [
  ['name', 'name', 'text', 'create'],
  ['domain', 'domain (default: yours)', 'text', 'create'],
  ['description', 'description', 'text', 'both'],
  ['enabled', 'enabled', 'bool', 'both'],
  ['grants', 'grants (JSON: [{contractId, role}])', 'json', 'both'],
];
const domainForm = [
  ['name', 'name', 'text', 'create'],
  ['kind', 'kind', ['application', 'infrastructure', 'administrative'], 'both'],
  ['description', 'description', 'text', 'both'],
];

/** Names for ids in tables (contracts, nodes), read when a view needs them. */
const names = { contracts: new Map(), nodes: new Map() };
const nameOf = (kind, id) => (names[kind].has(id) ? `${names[kind].get(id)} (${id})` : text(id));

function flowState(a) {
  if (a.revokedAt) return 'revoked';
  if (Date.parse(a.notAfter) <= Date.now()) return 'expired';
  return 'active';
}

/** Each table view: the collection path, its columns, its form and its row actions. */
const views = {
  topology: { title: 'Topology', graph: true },
  flows: {
    title: 'Flows',
    path: 'authorizations',
    names: ['contracts', 'nodes'],
    columns: [
      ['id', (a) => a.id],
      ['contract', (a) => nameOf('contracts', a.contractId)],
      ['role', (a) => a.role],
      ['node', (a) => nameOf('nodes', a.nodeId)],
      ['host id', (a) => a.hostId],
      ['endpoint', (a) => a.endpointId],
      ['state', (a) => flowState(a)],
      ['not after', (a) => when(a.notAfter)],
      ['serial', (a) => a.serial],
    ],
    actions: [
      { label: 'Trace', enabled: (a) => a.endpointId !== null, run: (a) => go(`trace/${a.endpointId}`) },
      { label: 'Revoke', enabled: (a) => !a.revokedAt, run: (a) => revoke(a), once: true },
    ],
  },
  trace: { title: 'Trace', graph: true, hidden: true },
  endpoints: {
    title: 'Endpoints',
    path: 'endpoints',
    names: ['contracts', 'nodes'],
    columns: [
      ['id', (e) => e.id],
      ['contract', (e) => nameOf('contracts', e.contractId)],
      ['role', (e) => e.role],
      ['node', (e) => nameOf('nodes', e.nodeId)],
      ['host id', (e) => e.hostId],
      ['serial', (e) => e.authorizationSerial],
      ['registered', (e) => when(e.createdAt)],
    ],
    actions: [
      { label: 'Trace', enabled: () => true, run: (e) => go(`trace/${e.id}`) },
      {
        label: 'Delete',
        enabled: () => true,
        run: (e) => remove('endpoints', e.id, `endpoint ${e.id} (its flow authorization revoked)`),
        once: true,
      },
    ],
  },
  nodes: {
    title: 'Nodes',
    path: 'nodes',
    columns: [
      ['id', (n) => n.id],
      ['hostname', (n) => n.hostname],
      ['type', (n) => n.type],
      ['domain', (n) => n.domain],
      ['zone', (n) => n.zoneId],
      ['status', (n) => n.status],
      ['host id', (n) => n.hostId],
      ['locator', (n) => n.locator],
      ['last keep-alive', (n) => when(n.lastKeepaliveAt)],
      ['registered', (n) => (n.status === 'registered' ? 'yes' : 'no')],
    ],
    actions: [
      {
        label: 'Decommission',
        enabled: () => true,
        run: (n) =>
          remove(
            'nodes',
            n.id,
            `node ${n.hostname} (its endpoints and certificate revoked, its links closed)`,
          ),
        once: true,
      },
    ],
  },
  links: {
    title: 'Links',
    path: 'links',
    names: ['nodes'],
    columns: [
      ['id', (l) => l.id],
      ['node A', (l) => nameOf('nodes', l.nodeA)],
      ['node Z', (l) => nameOf('nodes', l.nodeZ)],
      ['cost', (l) => l.cost],
      ['labels', (l) => list(l.labels)],
      ['admin', (l) => l.adminState],
      ['status', (l) => l.status],
    ],
  },
  zones: {
    title: 'Zones',
    path: 'zones',
    form: zoneForm,
    columns: [
      ['id', (z) => z.id],
      ['name', (z) => z.name],
      ['netprefix', (z) => z.netprefix],
      ['primary controller', (z) => z.primaryController],
      ['description', (z) => z.description],
    ],
  },
  templates: {
    title: 'Templates',
    path: 'templates',
    form: templateForm,
    columns: [
      ['id', (t) => t.id],
      ['name', (t) => t.name],
      ['domain', (t) => t.domain],
      ['description', (t) => t.description],
      ['orientation', (t) => t.orientation],
      ['multicast', (t) => (t.multicast ? 'yes' : 'no')],
      ['roles', (t) => list((t.roles ?? []).map((r) => r.name))],
      ['logic hash', (t) => t.logicHash],
    ],
  },
  contracts: {
    title: 'Contracts',
    path: 'contracts',
    form: contractForm,
    columns: [
      ['id', (c) => c.id],
      ['name', (c) => c.name],
      ['domain', (c) => c.domain],
      ['template', (c) => c.templateId],
      ['description', (c) => c.description],
      ['enabled', (c) => (c.enabled ? 'yes' : 'no')],
      ['roles', (c) => list((c.roles ?? []).map((r) => `${r.name}→${r.peer}`))],
      ['DNS names', (c) => list(c.dnsNames)],
    ],
  },
  services: {
    title: 'Services',
    path: 'services',
    form: serviceForm,
    columns: [
      ['id', (s) => s.id],
      ['name', (s) => s.name],
      ['domain', (s) => s.domain],
      ['description', (s) => s.description],
      ['enabled', (s) => (s.enabled ? 'yes' : 'no')],
      ['grants', (s) => list((s.grants ?? []).map((g) => `contract ${g.contractId} as ${g.role}`))],
    ],
  },
  users: {
    title: 'Users',
    path: 'users',
    form: userForm,
    columns: [
      ['id', (u) => u.id],
      ['login', (u) => u.login],
      ['domain', (u) => u.domain],
      ['roles', (u) => list(u.roles)],
      ['active', (u) => (u.active ? 'yes' : 'no')],
      ['zone', (u) => u.zoneId],
      ['created', (u) => when(u.createdAt)],
    ],
  },
  domains: {
    title: 'Domains',
    path: 'domains',
    form: domainForm,
    columns: [
      ['id', (d) => d.id],
      ['name', (d) => d.name],
      ['kind', (d) => d.kind],
      ['description', (d) => d.description],
      ['created', (d) => when(d.createdAt)],
    ],
  },
  audit: {
    title: 'Audit log',
    path: 'audit',
    columns: [
      ['id', (e) => e.id],
      ['at', (e) => when(e.at)],
      ['actor', (e) => e.actor],
      ['action', (e) => e.action],
      ['object', (e) => `${text(e.objectType)} ${text(e.objectId)}`],
      ['detail', (e) => e.detail],
    ],
  },
};

const $ = (id) => document.getElementById(id);
const state = { view: 'topology', argument: '', offset: 0, total: 0, editing: undefined, timer: undefined };

function show(element, visible) {
  element.hidden = !visible;
}

function showError(message) {
  $('error').textContent = message;
  show($('error'), Boolean(message));
  if (message) show($('notice'), false);
}

function showNotice(message) {
  $('notice').textContent = message;
  show($('notice'), Boolean(message));
}

/** An API call; throws an Error whose message is the API's `CODE: message`. */
async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`the controller did not answer (${error.message})`);
  }
  const payload = await response.json().catch(() => undefined);
  if (!response.ok) {
    const code = payload && typeof payload.code === 'string' ? payload.code : `HTTP_${response.status}`;
    const message = payload && typeof payload.message === 'string' ? payload.message : response.statusText;
    const error = new Error(`${code}: ${message}`);
    error.code = code;
    throw error;
  }
  return payload;
}

function handle(error) {
  if (error.code === 'UNAUTHENTICATED') {
    logout();
    showError(`${error.message} — please log in again`);
    return;
  }
  showError(error.message);
}

function logout() {
  sessionStorage.removeItem(tokenKey);
  sessionStorage.removeItem(whoKey);
  render();
}

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const credentials = {
    domain: text(form.get('domain')),
    username: text(form.get('username')),
    password: text(form.get('password')),
  };
  try {
    const { token } = await call('POST', 'auth/token', credentials);
    sessionStorage.setItem(tokenKey, token);
    sessionStorage.setItem(whoKey, `${credentials.username}@${credentials.domain}`);
    event.target.reset();
    showError('');
    render();
  } catch (error) {
    showError(error.message);
  }
}

async function revoke(authorization) {
  try {
    const revoked = await call('POST', `authorizations/${authorization.id}/revoke`, {});
    showError('');
    await load();
    showNotice(`Revoked flow authorization ${revoked.id} (serial ${revoked.serial}).`);
  } catch (error) {
    handle(error);
  }
}

/** Deletes one object after the user confirms; what it does to running flows is in `what`. */
async function remove(path, id, what) {
  if (!confirm(`Delete ${what}?`)) return load();
  try {
    await call('DELETE', `${path}/${id}`);
    showError('');
    await load();
    showNotice(`Deleted ${what}.`);
  } catch (error) {
    handle(error);
  }
}

function go(hash) {
  location.hash = `#${hash}`;
}

function viewFromHash() {
  const [name = '', argument = ''] = location.hash.replace(/^#/, '').split('/');
  return Object.hasOwn(views, name) ? { name, argument } : { name: 'topology', argument: '' };
}

function buildNav() {
  const nav = $('nav');
  nav.replaceChildren();
  for (const [name, view] of Object.entries(views)) {
    if (view.hidden) continue;
    const link = document.createElement('a');
    link.href = `#${name}`;
    link.textContent = view.title;
    link.dataset.view = name;
    nav.append(link);
  }
}

function cell(tag, value) {
  const element = document.createElement(tag);
  element.textContent = text(value);
  return element;
}

function button(label, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

/** Fills the table with `items` read through `columns`, and `actions` as buttons per row. */
function fillTable(columns, items, actions = []) {
  const head = document.createElement('tr');
  for (const [header] of columns) head.append(cell('th', header));
  if (actions.length > 0) head.append(cell('th', ''));
  $('table').tHead.replaceChildren(head);
  const rows = items.map((item) => {
    const row = document.createElement('tr');
    if (item.id !== undefined) row.dataset.id = text(item.id);
    for (const [, read] of columns) row.append(cell('td', read(item)));
    if (actions.length > 0) {
      const td = document.createElement('td');
      td.className = 'actions';
      for (const action of actions)
        if (action.enabled(item)) {
          const element = button(action.label, () => {
            if (action.once) element.disabled = true;
            void action.run(item);
          });
          td.append(element);
        }
      row.append(td);
    }
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const td = cell('td', 'nothing here');
    td.className = 'empty';
    td.colSpan = columns.length + (actions.length > 0 ? 1 : 0);
    row.append(td);
    rows.push(row);
  }
  $('table').tBodies[0].replaceChildren(...rows);
}

async function readNames(kinds) {
  for (const kind of kinds) {
    const page = await call('GET', `${kind}?limit=1000`);
    names[kind] = new Map(page.items.map((item) => [item.id, kind === 'nodes' ? item.hostname : item.name]));
  }
}

// ---- create and edit ---------------------------------------------------------------------

/** A view's object in the singular: `zone`, `contract`. */
const noun = (view) => view.title.toLowerCase().replace(/s$/, '');

function fieldValue(kind, value) {
  if (kind === 'json') return json(value);
  if (kind === 'list') return list(value);
  return text(value);
}

/** Opens the form to create an object of the view, or to edit `item`. */
function openEditor(item) {
  const view = views[state.view];
  state.editing = item;
  const mode = item ? 'edit' : 'create';
  $('editor-title').textContent = item ? `Edit ${noun(view)} ${item.id}` : `New ${noun(view)}`;
  const fields = view.form.filter(([, , , where]) => where === 'both' || where === mode);
  const rows = fields.map(([name, label, kind]) => {
    const wrapper = document.createElement('label');
    wrapper.append(cell('span', label));
    let input;
    if (Array.isArray(kind)) {
      input = document.createElement('select');
      for (const choice of kind) input.append(cell('option', choice));
      if (item) input.value = text(item[name]);
    } else if (kind === 'json') {
      input = document.createElement('textarea');
      input.rows = 4;
      if (item) input.value = fieldValue(kind, item[name]);
    } else {
      input = document.createElement('input');
      input.type = kind === 'bool' ? 'checkbox' : kind === 'password' ? 'password' : 'text';
      if (kind === 'number') input.inputMode = 'numeric';
      if (kind === 'bool') input.checked = item ? Boolean(item[name]) : true;
      else if (item && kind !== 'password') input.value = fieldValue(kind, item[name]);
    }
    input.name = name;
    input.dataset.kind = Array.isArray(kind) ? 'choice' : kind;
    wrapper.append(input);
    return wrapper;
  });
  $('editor-fields').replaceChildren(...rows);
  show($('editor'), true);
  $('editor-fields').querySelector('input, select, textarea')?.focus();
}

function closeEditor() {
  state.editing = undefined;
  show($('editor'), false);
  $('editor-fields').replaceChildren();
}

/** The request body from the form; throws on a field that does not read (bad JSON, not a number). */
function editorBody() {
  const body = {};
  for (const input of $('editor-fields').querySelectorAll('input, select, textarea')) {
    const { name } = input;
    const kind = input.dataset.kind;
    if (kind === 'bool') {
      body[name] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === '') {
      // Cleared on edit: a zone id becomes null; other empty fields are left as they are.
      if (state.editing && kind === 'number' && state.editing[name] !== null) body[name] = null;
      continue;
    }
    if (kind === 'number') {
      if (!/^[0-9]+$/.test(raw)) throw new Error(`${name}: a whole number, not “${raw}”`);
      body[name] = Number(raw);
    } else if (kind === 'list') {
      body[name] = raw
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
    } else if (kind === 'json') {
      try {
        body[name] = JSON.parse(raw);
      } catch (error) {
        throw new Error(`${name}: not JSON (${error.message})`);
      }
    } else body[name] = input.value;
  }
  return body;
}

async function saveEditor(event) {
  event.preventDefault();
  const view = views[state.view];
  let body;
  try {
    body = editorBody();
  } catch (error) {
    showError(error.message);
    return;
  }
  try {
    const item = state.editing;
    const saved = item
      ? await call('PATCH', `${view.path}/${item.id}`, body)
      : await call('POST', view.path, body);
    closeEditor();
    showError('');
    await load();
    showNotice(`${item ? 'Saved' : 'Created'} ${noun(view)} ${saved.id}.`);
  } catch (error) {
    handle(error);
  }
}

// ---- the graph -----------------------------------------------------------------------------

const graphStyle = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      'text-valign': 'bottom',
      'text-margin-y': 6,
      'font-size': 15,
      'font-family': 'system-ui, sans-serif',
      color: '#1d2330',
      'text-background-color': '#f6f7f9',
      'text-background-opacity': 0.85,
      'text-background-padding': 2,
      width: 34,
      height: 34,
      'border-width': 2,
      'border-color': '#1d2330',
    },
  },
  { selector: 'node[type = "engine"]', style: { shape: 'round-rectangle', 'background-color': '#4a78c2' } },
  { selector: 'node[type = "host"]', style: { shape: 'ellipse', 'background-color': '#5aa469' } },
  {
    selector: 'node[status != "registered"]',
    style: { 'background-color': '#b9bec8', 'border-style': 'dashed' },
  },
  {
    selector: 'edge',
    style: {
      label: 'data(label)',
      'font-size': 11,
      'font-family': 'system-ui, sans-serif',
      color: '#1d2330',
      'text-rotation': 'autorotate',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.9,
      'text-background-padding': 2,
      'curve-style': 'bezier',
      width: 'data(width)',
      'line-color': '#6b7689',
    },
  },
  { selector: 'edge[kind = "attachment"]', style: { 'line-color': '#5aa469' } },
  { selector: 'edge[?down]', style: { 'line-style': 'dashed', 'line-color': '#d33' } },
  { selector: '.traced', style: { 'line-color': '#e08a00', 'border-color': '#e08a00', 'border-width': 4 } },
  { selector: 'edge.traced', style: { width: 6, 'z-index': 10 } },
  { selector: ':selected', style: { 'overlay-color': '#4a78c2', 'overlay-opacity': 0.2 } },
];

let graph;

/**
 * Where each node is drawn: engines on a circle, each host beside the engines it is attached to
 * (outward from the centre, spread when several share them), hosts attached to none on an outer
 * circle. Deterministic, so the same topology always looks the same.
 */
function positions(topology) {
  const at = new Map();
  const engines = topology.nodes.filter((n) => n.type === 'engine');
  const radius = engines.length <= 1 ? 0 : Math.max(200, engines.length * 70);
  engines.forEach((engine, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / engines.length;
    at.set(engine.id, { x: radius * Math.cos(angle), y: radius * Math.sin(angle) });
  });
  const groups = new Map();
  const loose = [];
  for (const host of topology.nodes.filter((n) => n.type !== 'engine')) {
    const attached = topology.links
      .flatMap((l) => (l.nodeA === host.id ? [l.nodeZ] : l.nodeZ === host.id ? [l.nodeA] : []))
      .filter((id) => at.has(id))
      .sort((a, b) => a - b);
    if (attached.length === 0) loose.push(host);
    else {
      const key = attached.join(',');
      groups.set(key, [...(groups.get(key) ?? []), host]);
    }
  }
  for (const [key, hosts] of groups) {
    const anchors = key.split(',').map((id) => at.get(Number(id)));
    const x = anchors.reduce((sum, p) => sum + p.x, 0) / anchors.length;
    const y = anchors.reduce((sum, p) => sum + p.y, 0) / anchors.length;
    const base = x === 0 && y === 0 ? -Math.PI / 2 : Math.atan2(y, x);
    hosts.forEach((host, i) => {
      const angle = base + (i - (hosts.length - 1) / 2) * 0.6;
      at.set(host.id, { x: x + 160 * Math.cos(angle), y: y + 160 * Math.sin(angle) });
    });
  }
  const outer = radius + 420;
  loose.forEach((host, i) => {
    const angle = (2 * Math.PI * i) / loose.length;
    at.set(host.id, { x: outer * Math.cos(angle), y: outer * Math.sin(angle) });
  });
  return at;
}

/** The graph's elements from a topology: node and link ids are prefixed (n12, l7). */
function graphElements(topology) {
  const kinds = new Map(topology.nodes.map((n) => [n.id, n.type]));
  const flows = (count) => (count === null ? '' : ` · ${count} flow${count === 1 ? '' : 's'}`);
  const at = positions(topology);
  const plural = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
  // Hosts: their flows in force; engines: the computed paths through them and, once they
  // reported it in a keep-alive, the live flows in their flow table.
  const count = (n) => {
    const parts =
      n.type === 'engine'
        ? [
            n.paths === null ? '' : plural(n.paths, 'path'),
            n.liveFlows === null ? '' : `${plural(n.liveFlows, 'live flow')}`,
          ]
        : [n.flows === null ? '' : plural(n.flows, 'flow')];
    const line = parts.filter(Boolean).join(' · ');
    return line ? `\n${line}` : '';
  };
  const nodes = topology.nodes.map((n) => ({
    group: 'nodes',
    position: at.get(n.id),
    data: {
      id: `n${n.id}`,
      nodeId: n.id,
      label: `${n.hostname}${count(n)}`,
      hostname: n.hostname,
      type: n.type,
      status: n.status,
      flows: n.flows,
      detail: n,
    },
  }));
  // A link whose other end is not visible to the caller is left out (it has nothing to join).
  const links = topology.links
    .filter((l) => kinds.has(l.nodeA) && kinds.has(l.nodeZ))
    .map((l) => {
      const attachment = kinds.get(l.nodeA) === 'host' || kinds.get(l.nodeZ) === 'host';
      const stateText = l.usable ? 'up' : l.adminState === 'down' ? 'admin down' : 'down';
      return {
        group: 'edges',
        data: {
          id: `l${l.id}`,
          linkId: l.id,
          source: `n${l.nodeA}`,
          target: `n${l.nodeZ}`,
          kind: attachment ? 'attachment' : 'engine-link',
          label: `cost ${l.cost} · ${stateText}${flows(l.flows)}`,
          cost: l.cost,
          state: stateText,
          flows: l.flows,
          down: !l.usable,
          width: 2 + Math.min(6, l.flows ?? 0),
          detail: l,
        },
      };
    });
  return [...nodes, ...links];
}

function describe(element) {
  const data = element.data();
  const rows = element.isNode()
    ? [
        ['node', `${data.hostname} (${data.nodeId})`],
        ['type', data.type],
        ['status', data.status],
        ['domain', data.detail.domain],
        ['host id', data.detail.hostId],
        ['labels', list(data.detail.labels)],
        ['flows in force', data.flows],
        ['computed paths through it', data.detail.paths],
        ['live flows (its last keep-alive)', data.detail.liveFlows],
        ['last keep-alive', when(data.detail.lastKeepaliveAt)],
      ]
    : [
        ['link', data.linkId],
        ['between', `${element.source().data('hostname')} – ${element.target().data('hostname')}`],
        ['kind', data.kind === 'attachment' ? 'host attachment' : 'engine link'],
        ['cost', data.cost],
        ['state', data.state],
        ['labels', list(data.detail.labels)],
        ['computed paths across it', data.flows],
      ];
  const table = document.createElement('table');
  for (const [label, value] of rows) {
    const row = document.createElement('tr');
    row.append(cell('th', label), cell('td', value));
    table.append(row);
  }
  $('details').replaceChildren(table);
}

/** Draws (or, when the same elements are drawn, updates in place) the topology. */
function drawTopology(topology) {
  const elements = graphElements(topology);
  const ids = elements.map((e) => e.data.id).sort();
  const drawn = graph
    ? graph
        .elements()
        .map((e) => e.id())
        .sort()
    : [];
  if (graph && ids.join() === drawn.join()) {
    for (const element of elements) graph.getElementById(element.data.id).data(element.data);
  } else {
    graph?.destroy();
    graph = cytoscape({
      container: $('graph'),
      elements,
      style: graphStyle,
      layout: { name: 'preset', fit: true, padding: 40 },
      maxZoom: 3,
    });
    graph.on('tap', 'node, edge', (event) => describe(event.target));
    // For tests and debugging: what is drawn (the page's own model, nothing more).
    window.capsuleGraph = graph;
  }
  $('graph').dataset.nodes = String(topology.nodes.length);
  $('graph').dataset.links = String(graph.edges().length);
  const flows = topology.nodes.reduce((sum, n) => sum + (n.flows ?? 0), 0);
  $('range').textContent =
    `${topology.nodes.length} nodes, ${graph.edges().length} links, ${flows} flows in force — ${when(topology.at)}`;
}

async function loadTopology() {
  const topology = await call('GET', 'topology');
  drawTopology(topology);
  return topology;
}

async function loadTrace(endpointId) {
  if (!/^[1-9][0-9]{0,9}$/.test(endpointId)) throw new Error('a trace needs an endpoint id: #trace/<id>');
  const [trace] = await Promise.all([call('GET', `endpoints/${endpointId}/trace`), loadTopology()]);
  $('view-title').textContent =
    `Trace of endpoint ${trace.endpointId} (${trace.role}, contract ${trace.contractId})`;
  graph.elements().removeClass('traced');
  for (const path of trace.paths)
    for (const hop of path.hops) {
      graph.getElementById(`n${hop.nodeId}`).addClass('traced');
      if (hop.linkId !== null) graph.getElementById(`l${hop.linkId}`).addClass('traced');
    }
  const hopText = (path) =>
    path.hops.length === 0
      ? 'unreachable'
      : path.hops
          .map((hop) => `${hop.hostname}${hop.linkId === null ? '' : ` [link ${hop.linkId}]`}`)
          .join(' → ');
  fillTable(
    [
      ['peer endpoint', (p) => p.peerEndpointId],
      ['peer role', (p) => p.peerRole],
      ['peer host id', (p) => p.peerHostId],
      ['cost', (p) => (p.cost < 0 ? 'unreachable' : p.cost)],
      ['hops', (p) => p.hops.length],
      ['path', hopText],
    ],
    trace.paths.map((path) => ({ ...path, id: path.peerEndpointId })),
  );
  $('range').textContent =
    `${trace.paths.length} path${trace.paths.length === 1 ? '' : 's'} from node ${trace.nodeId}`;
}

// ---- loading a view -------------------------------------------------------------------------

function stopRefresh() {
  if (state.timer !== undefined) clearInterval(state.timer);
  state.timer = undefined;
}

async function load() {
  const view = views[state.view];
  const limit = Number($('limit').value);
  $('view-title').textContent = view.title;
  for (const link of $('nav').children)
    if (link.dataset.view === state.view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  show($('graph-panel'), Boolean(view.graph));
  show($('table'), state.view !== 'topology');
  show($('paging'), Boolean(view.path));
  show($('create'), Boolean(view.form));
  if (!view.graph) {
    graph?.destroy();
    graph = undefined;
    window.capsuleGraph = undefined;
  }
  try {
    if (state.view === 'topology') {
      $('details').replaceChildren(cell('p', 'Select a node or a link to see it here.'));
      await loadTopology();
      return;
    }
    if (state.view === 'trace') {
      $('details').replaceChildren(cell('p', 'The traced paths are drawn in orange.'));
      await loadTrace(state.argument);
      return;
    }
    if (view.names) await readNames(view.names);
    const page = await call('GET', `${view.path}?limit=${limit}&offset=${state.offset}`);
    state.total = page.total;
    const actions = [...(view.actions ?? [])];
    if (view.form) actions.push({ label: 'Edit', enabled: () => true, run: (item) => openEditor(item) });
    fillTable(view.columns, page.items, actions);
    const first = page.items.length === 0 ? 0 : state.offset + 1;
    $('range').textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
    $('prev').disabled = state.offset === 0;
    $('next').disabled = state.offset + page.items.length >= page.total;
  } catch (error) {
    handle(error);
  }
}

function render() {
  const token = sessionStorage.getItem(tokenKey);
  show($('login-view'), !token);
  show($('app-view'), Boolean(token));
  show($('logout'), Boolean(token));
  show($('who'), Boolean(token));
  $('who').textContent = text(sessionStorage.getItem(whoKey));
  stopRefresh();
  closeEditor();
  if (token) {
    const { name, argument } = viewFromHash();
    state.view = name;
    state.argument = argument;
    void load();
    if (name === 'topology')
      state.timer = setInterval(() => {
        if (!document.hidden) loadTopology().catch(handle);
      }, topologyRefreshMs);
  } else {
    graph?.destroy();
    graph = undefined;
  }
}

buildNav();
$('login-form').addEventListener('submit', login);
$('editor').addEventListener('submit', saveEditor);
$('editor-cancel').addEventListener('click', closeEditor);
$('create').addEventListener('click', () => openEditor(undefined));
$('logout').addEventListener('click', () => {
  showError('');
  showNotice('');
  logout();
});
$('prev').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - Number($('limit').value));
  void load();
});
$('next').addEventListener('click', () => {
  state.offset += Number($('limit').value);
  void load();
});
$('limit').addEventListener('change', () => {
  state.offset = 0;
  void load();
});
$('reload').addEventListener('click', () => {
  showNotice('');
  void load();
});
window.addEventListener('hashchange', () => {
  state.offset = 0;
  showError('');
  showNotice('');
  render();
});
render();
