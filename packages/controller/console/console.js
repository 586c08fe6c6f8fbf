// The Capsule web console: a client of the northbound API (/api/v1) with a bearer token kept in
// sessionStorage. Every URL is relative to this page (served at /console/), so the console works
// behind any host name or address. Data is only ever written with textContent, never as HTML.

const api = '../api/v1/';
const tokenKey = 'capsule.console.token';
const whoKey = 'capsule.console.who';

const text = (value) => (value === null || value === undefined ? '' : String(value));
const list = (values) => (Array.isArray(values) ? values.join(', ') : '');
const when = (value) => (value ? new Date(value).toISOString().replace('T', ' ').slice(0, 19) : '');

/** Each view: the collection path and its columns (header, how a cell reads from an item). */
const views = {
  domains: {
    title: 'Domains',
    columns: [
      ['id', (d) => d.id],
      ['name', (d) => d.name],
      ['kind', (d) => d.kind],
      ['description', (d) => d.description],
      ['created', (d) => when(d.createdAt)],
    ],
  },
  users: {
    title: 'Users',
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
  zones: {
    title: 'Zones',
    columns: [
      ['id', (z) => z.id],
      ['name', (z) => z.name],
      ['netprefix', (z) => z.netprefix],
      ['primary controller', (z) => z.primaryController],
      ['description', (z) => z.description],
    ],
  },
  nodes: {
    title: 'Nodes',
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
  },
  links: {
    title: 'Links',
    columns: [
      ['id', (l) => l.id],
      ['node A', (l) => l.nodeA],
      ['node Z', (l) => l.nodeZ],
      ['cost', (l) => l.cost],
      ['labels', (l) => list(l.labels)],
      ['admin', (l) => l.adminState],
      ['status', (l) => l.status],
    ],
  },
  templates: {
    title: 'Templates',
    columns: [
      ['id', (t) => t.id],
      ['name', (t) => t.name],
      ['domain', (t) => t.domain],
      ['orientation', (t) => t.orientation],
      ['multicast', (t) => (t.multicast ? 'yes' : 'no')],
      ['roles', (t) => list((t.roles ?? []).map((r) => r.name))],
      ['logic hash', (t) => t.logicHash],
    ],
  },
  contracts: {
    title: 'Contracts',
    columns: [
      ['id', (c) => c.id],
      ['name', (c) => c.name],
      ['domain', (c) => c.domain],
      ['template', (c) => c.templateId],
      ['enabled', (c) => (c.enabled ? 'yes' : 'no')],
      ['roles', (c) => list((c.roles ?? []).map((r) => `${r.name}→${r.peer}`))],
      ['DNS names', (c) => list(c.dnsNames)],
    ],
  },
  services: {
    title: 'Services',
    columns: [
      ['id', (s) => s.id],
      ['name', (s) => s.name],
      ['domain', (s) => s.domain],
      ['enabled', (s) => (s.enabled ? 'yes' : 'no')],
      ['grants', (s) => list((s.grants ?? []).map((g) => `contract ${g.contractId} as ${g.role}`))],
    ],
  },
  authorizations: {
    title: 'Flow authorizations',
    columns: [
      ['id', (a) => a.id],
      ['serial', (a) => a.serial],
      ['domain', (a) => a.domain],
      ['contract', (a) => a.contractId],
      ['role', (a) => a.role],
      ['node', (a) => a.nodeId],
      ['host id', (a) => a.hostId],
      ['not after', (a) => when(a.notAfter)],
      ['revoked', (a) => when(a.revokedAt)],
    ],
    action: { label: 'Revoke', enabled: (a) => !a.revokedAt, run: (a) => revoke(a) },
  },
  audit: {
    title: 'Audit log',
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
const state = { view: 'nodes', offset: 0, total: 0 };

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

function viewFromHash() {
  const name = location.hash.replace(/^#/, '');
  return Object.hasOwn(views, name) ? name : 'nodes';
}

function buildNav() {
  const nav = $('nav');
  nav.replaceChildren();
  for (const [name, view] of Object.entries(views)) {
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

async function load() {
  const view = views[state.view];
  const limit = Number($('limit').value);
  $('view-title').textContent = view.title;
  for (const link of $('nav').children)
    if (link.dataset.view === state.view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  let page;
  try {
    page = await call('GET', `${state.view}?limit=${limit}&offset=${state.offset}`);
  } catch (error) {
    handle(error);
    return;
  }
  state.total = page.total;
  const head = document.createElement('tr');
  for (const [header] of view.columns) head.append(cell('th', header));
  if (view.action) head.append(cell('th', ''));
  $('table').tHead.replaceChildren(head);
  const rows = page.items.map((item) => {
    const row = document.createElement('tr');
    row.dataset.id = text(item.id);
    for (const [, read] of view.columns) row.append(cell('td', read(item)));
    if (view.action) {
      const td = document.createElement('td');
      if (view.action.enabled(item)) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = view.action.label;
        button.addEventListener('click', () => {
          button.disabled = true;
          void view.action.run(item);
        });
        td.append(button);
      }
      row.append(td);
    }
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const td = cell('td', 'nothing here');
    td.className = 'empty';
    td.colSpan = view.columns.length + (view.action ? 1 : 0);
    row.append(td);
    rows.push(row);
  }
  $('table').tBodies[0].replaceChildren(...rows);
  const first = page.items.length === 0 ? 0 : state.offset + 1;
  $('range').textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
  $('prev').disabled = state.offset === 0;
  $('next').disabled = state.offset + page.items.length >= page.total;
}

function render() {
  const token = sessionStorage.getItem(tokenKey);
  show($('login-view'), !token);
  show($('app-view'), Boolean(token));
  show($('logout'), Boolean(token));
  show($('who'), Boolean(token));
  $('who').textContent = text(sessionStorage.getItem(whoKey));
  if (token) {
    state.view = viewFromHash();
    void load();
  }
}

buildNav();
$('login-form').addEventListener('submit', login);
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
