/**
 * The web console on a running lab, in a real browser (Debian's chromium driven by playwright-core):
 * the in-process lab (examples/lab/default.yaml: a controller, three engines, five agents, all
 * registered and linked) with the micro-segmentation use case's endpoints registered through the
 * agents. An operator logs in, opens the topology and every registered node and link is drawn
 * (read from the page's graph model, and each one inside the drawn area) with the names, costs,
 * states and flow counts the API gives; the flows view traces a flow, and the trace view draws
 * its hops; zones, contracts and services are created and edited through the forms, the API's
 * errors are shown, and hostile text is shown as text. No Content-Security-Policy violation and
 * no page error may happen. Screenshots go to docs/ with CAPSULE_CONSOLE_SCREENSHOTS=docs
 * (docs/console.md shows them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyUseCase,
  buildUdp6,
  defaultTopologyYaml,
  listUseCases,
  type MemoryLab,
  parseTopology,
  startMemoryLab,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const chromiumPath = '/usr/bin/chromium';
/**
 * Where the screenshots go: a scratch directory, or docs/ (what docs/console.md shows) when
 * CAPSULE_CONSOLE_SCREENSHOTS=docs — they differ on every run (times, host ids), so a plain test
 * run leaves the checkout alone.
 */
const shots =
  process.env.CAPSULE_CONSOLE_SCREENSHOTS === 'docs'
    ? join(import.meta.dirname, '../../docs')
    : mkdtempSync(join(tmpdir(), 'capsule-console-shots-'));
const hostileText = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>";
const operator = { domain: 'default', username: 'operator', password: 'operator-password-1' };

/** What the page's graph (cytoscape's model) holds, and whether each element is inside the drawing. */
interface Drawn {
  nodes: { id: string; label: string; visible: boolean; inside: boolean; traced: boolean }[];
  edges: {
    id: string;
    source: string;
    target: string;
    label: string;
    visible: boolean;
    inside: boolean;
    traced: boolean;
  }[];
  width: number;
  height: number;
}

/** Read in the page (a string: this file is typed without the DOM). */
const readGraphScript = `(() => {
  const cy = window.capsuleGraph;
  if (!cy) return null;
  const width = cy.width();
  const height = cy.height();
  const inside = (e) => {
    const box = e.renderedBoundingBox();
    return box.x1 >= -1 && box.y1 >= -1 && box.x2 <= width + 1 && box.y2 <= height + 1 && box.w > 0;
  };
  return {
    nodes: cy.nodes().map((n) => ({
      id: n.id(), label: String(n.data('label')), visible: n.visible(), inside: inside(n), traced: n.hasClass('traced'),
    })),
    edges: cy.edges().map((e) => ({
      id: e.id(), source: e.source().id(), target: e.target().id(), label: String(e.data('label')),
      visible: e.visible(), inside: inside(e), traced: e.hasClass('traced'),
    })),
    width,
    height,
  };
})()`;
/** What the last action said: the notice, or else the error (so a failed wait shows the API's error). */
const outcome = async (page: Page) =>
  (await page.isVisible('#notice'))
    ? await page.textContent('#notice')
    : `error: ${await page.textContent('#error')}`;
const readGraph = (page: Page) => page.evaluate<Drawn | null>(readGraphScript);

describe.skipIf(!canRun({ tools: ['chromium'] }))('web console on a running lab (chromium)', () => {
  let lab: MemoryLab;
  let browser: BrowserContext;
  let profile: string;
  let dataDir: string;
  let consoleUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'capsule-console-lab-'));
    lab = await startMemoryLab(parseTopology(defaultTopologyYaml), { dataDir });
    await lab.admin.users.create({
      login: operator.username,
      password: operator.password,
      roles: ['systemAdmin'],
    });
    const useCase = listUseCases(join(import.meta.dirname, '../../examples/use-cases')).find(
      (u) => u.name === 'micro-segmentation',
    )!;
    const token = await applyUseCase(lab.admin, useCase);
    for (const endpoint of useCase.endpoints)
      await lab.hosts.get(endpoint.host)!.agent.registerEndpoint({
        serviceToken: token,
        contract: endpoint.contract,
        role: endpoint.role,
      });
    consoleUrl = `${lab.state.controller!.northboundUrl}/console/`;
    profile = mkdtempSync(join(tmpdir(), 'capsule-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      // The in-process lab's controller serves its own self-signed certificate (pinned by its clients).
      ignoreHTTPSErrors: true,
      viewport: { width: 1400, height: 860 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (process.env.CAPSULE_CONSOLE_SCREENSHOTS !== 'docs') rmSync(shots, { recursive: true, force: true });
  });

  it('draws every registered node and link, traces a flow, and creates and edits policy objects', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        problems.push(`console ${message.type()}: ${message.text()}`);
    });
    // Every CSP violation, as the page sees it (the init script runs before the page's own).
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (event) => window.cspViolations.push(
          event.violatedDirective + ' ' + event.blockedURI + ' ' + event.sourceFile + ':' + event.lineNumber));`,
    });
    const cspViolations = () => page.evaluate<string[]>('window.cspViolations');

    const response = await page.goto(consoleUrl);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("style-src 'self'");
    // The violation detector does see one: an inline <style> the CSP refuses.
    await page.evaluate(`{
      const style = document.createElement('style');
      style.textContent = 'body { color: red }';
      document.head.append(style);
    }`);
    await expect.poll(async () => (await cspViolations()).length, { timeout: 5000 }).toBe(1);
    expect((await cspViolations())[0]).toContain('style-src');
    await page.reload();
    problems.length = 0;

    await page.fill('input[name=domain]', operator.domain);
    await page.fill('input[name=username]', operator.username);
    await page.fill('input[name=password]', operator.password);
    await page.click('#login-form button[type=submit]');

    // The topology: every node and link the controller has registered is drawn.
    const nodes = (await lab.admin.nodes.list()).items;
    const links = (await lab.admin.links.list()).items;
    const topology = await lab.admin.topology();
    expect(nodes.filter((n) => n.status === 'registered')).toHaveLength(8); // 3 engines, 5 hosts
    expect(links.length).toBeGreaterThanOrEqual(8); // 3 engine links, 5 host attachments
    await expect
      .poll(async () => (await readGraph(page))?.nodes.length, { timeout: 20_000 })
      .toBe(nodes.length);
    const drawn = (await readGraph(page))!;
    expect(drawn.width).toBeGreaterThan(300);
    for (const node of nodes) {
      const element = drawn.nodes.find((n) => n.id === `n${node.id}`);
      expect(element, node.hostname).toBeDefined();
      expect(element!.label.split('\n')[0]).toBe(node.hostname);
      expect(element!.visible && element!.inside, node.hostname).toBe(true);
      // Hosts show their flows in force, engines the computed paths through them.
      const counted = topology.nodes.find((n) => n.id === node.id)!;
      expect(element!.label.split('\n')[1]).toMatch(
        node.type === 'host'
          ? new RegExp(`^${counted.flows} flows?$`)
          : new RegExp(`^${counted.paths} paths?( · \\d+ live flows?)?$`),
      );
    }
    expect(drawn.edges).toHaveLength(links.length);
    for (const link of links) {
      const element = drawn.edges.find((e) => e.id === `l${link.id}`);
      expect(element, `link ${link.id}`).toBeDefined();
      expect([element!.source, element!.target].sort()).toEqual([`n${link.nodeA}`, `n${link.nodeZ}`].sort());
      const flows = topology.links.find((l) => l.id === link.id)!.flows!;
      expect(element!.label).toBe(
        `cost ${link.cost} · ${link.status === 'up' ? 'up' : 'down'} · ${flows} flow${flows === 1 ? '' : 's'}`,
      );
      expect(element!.visible && element!.inside, `link ${link.id}`).toBe(true);
    }
    // Flows are live: the hosts with endpoints count theirs; the cheap path e1–e3–e2 carries them.
    const byName = new Map(nodes.map((n) => [n.hostname, n.id]));
    const labelOf = (name: string) => drawn.nodes.find((n) => n.id === `n${byName.get(name)}`)!.label;
    expect(labelOf('h1')).toContain('1 flow');
    expect(labelOf('h4')).toContain('0 flows');
    expect(labelOf('e3')).not.toContain('0 paths'); // the waypoint carries the web ↔ db paths
    const e1e3 = links.find(
      (l) => [l.nodeA, l.nodeZ].sort().join() === [byName.get('e1'), byName.get('e3')].sort().join(),
    )!;
    expect(topology.links.find((l) => l.id === e1e3.id)!.flows).toBeGreaterThan(0);
    expect(await page.getAttribute('#graph', 'data-nodes')).toBe(String(nodes.length));
    expect(await page.textContent('#range')).toContain(`${nodes.length} nodes, ${links.length} links`);
    // The engines' own reports: e1 carries h1 → h3 packets and says so in its keep-alives (every
    // 2 s in the lab; the page reads the topology every 5 s).
    // Real packets h1 → h3 (web → db), one more each try until the engine's report shows the flow.
    const e1Id = byName.get('e1')!;
    const h1 = lab.hosts.get('h1')!;
    const h3 = lab.hosts.get('h3')!;
    let sequence = 0;
    await expect
      .poll(
        async () => {
          sequence += 1;
          const payload = new TextEncoder().encode(String(sequence));
          h1.app.send(buildUdp6(h1.agent.hostId!, h3.agent.hostId!, 40000, 9000, payload));
          return (await lab.admin.topology()).nodes.find((n) => n.id === e1Id)!.liveFlows;
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBeGreaterThan(0);
    await expect
      .poll(async () => (await readGraph(page))!.nodes.find((n) => n.id === `n${e1Id}`)!.label, {
        timeout: 15_000,
      })
      .toMatch(/ · [1-9]\d* live flows?$/);
    // Selecting a node shows it beside the graph, as text.
    await page.evaluate(`void window.capsuleGraph.getElementById('n${byName.get('e3')}').emit('tap')`);
    expect(await page.textContent('#details')).toContain('waypoint');
    await page.screenshot({ path: join(shots, 'console-topology.png') });

    // The flows view: one row per flow authorization, with its contract's name and its state.
    await page.click('nav a[data-view=flows]');
    const authorizations = (await lab.admin.authorizations.list()).items;
    expect(authorizations).toHaveLength(3);
    await expect.poll(() => page.locator('#table tbody tr[data-id]').count(), { timeout: 15_000 }).toBe(3);
    const flowsText = await page.textContent('#table');
    expect(flowsText).toContain('shop (');
    expect(flowsText).toContain('active');
    await page.screenshot({ path: join(shots, 'console-flows.png') });

    // Trace h1's flow: the hops the controller computed, drawn on the graph.
    const h1Flow = authorizations.find((a) => a.nodeId === byName.get('h1'))!;
    await page
      .locator(`#table tbody tr[data-id="${h1Flow.id}"]`)
      .getByRole('button', { name: 'Trace' })
      .click();
    await expect
      .poll(() => page.textContent('#view-title'), { timeout: 15_000 })
      .toContain(`Trace of endpoint ${h1Flow.endpointId}`);
    const trace = await lab.admin.endpoints.trace(h1Flow.endpointId!);
    expect(trace.paths[0]!.hops.map((hop) => hop.hostname)).toEqual(['h1', 'e1', 'e3', 'e2', 'h3']);
    await expect.poll(() => page.textContent('#table tbody'), { timeout: 15_000 }).toContain('h1 → e1');
    expect(await page.textContent('#table tbody')).toContain(`${trace.paths[0]!.cost}`);
    const traced = (await readGraph(page))!;
    expect(
      traced.nodes
        .filter((n) => n.traced)
        .map((n) => n.id)
        .sort(),
    ).toEqual(trace.paths[0]!.hops.map((hop) => `n${hop.nodeId}`).sort());
    expect(traced.edges.filter((e) => e.traced)).toHaveLength(4);
    await page.screenshot({ path: join(shots, 'console-trace.png') });

    // Create a zone through the form; the API's error is shown first, then the object is made.
    await page.click('nav a[data-view=zones]');
    await page.click('#create');
    await page.fill('#editor [name=name]', 'console-zone');
    await page.fill('#editor [name=netprefix]', 'not-a-prefix');
    await page.fill('#editor [name=description]', hostileText);
    await page.click('#editor button[type=submit]');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('VALIDATION_FAILED');
    expect(await page.isVisible('#editor')).toBe(true);
    await page.fill('#editor [name=netprefix]', 'fd00:c0:c0:c0::/64');
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toMatch(/Created zone \d+/);
    const zone = (await lab.admin.zones.list()).items.find((z) => z.name === 'console-zone')!;
    expect(zone).toMatchObject({ netprefix: 'fd00:c0:c0:c0::/64', description: hostileText });
    // Shown as text: no element made from it, no script ran.
    expect(await page.textContent('#table')).toContain(hostileText);
    expect(await page.locator('#table img, #table script').count()).toBe(0);
    expect(await page.title()).toBe('Capsule console');

    // Edit it: the form holds the current values, the change reaches the store.
    await page.locator(`#table tbody tr[data-id="${zone.id}"]`).getByRole('button', { name: 'Edit' }).click();
    expect(await page.inputValue('#editor [name=description]')).toBe(hostileText);
    expect(await page.locator('#editor [name=netprefix]').count()).toBe(0); // not changeable
    await page.fill('#editor [name=description]', 'edited in the console');
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toContain(`Saved zone ${zone.id}`);
    expect((await lab.admin.zones.get(zone.id)).description).toBe('edited in the console');

    // A contract: edit its description; the roles travel as JSON and come back unchanged.
    const contract = (await lab.admin.contracts.list()).items.find((c) => c.name === 'shop')!;
    await page.click('nav a[data-view=contracts]');
    await page
      .locator(`#table tbody tr[data-id="${contract.id}"]`)
      .getByRole('button', { name: 'Edit' })
      .click();
    expect(JSON.parse(await page.inputValue('#editor [name=roles]'))).toEqual(contract.roles);
    await page.fill('#editor [name=description]', 'shop, described in the console');
    expect(await page.textContent('#editor-title')).toBe(`Edit contract ${contract.id}`);
    await page.screenshot({ path: join(shots, 'console-edit.png') });
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toContain(`Saved contract ${contract.id}`);
    const edited = await lab.admin.contracts.get(contract.id);
    expect(edited.description).toBe('shop, described in the console');
    expect(edited.roles).toEqual(contract.roles);

    // A service with a grant, typed as JSON; bad JSON is refused in the page with a clear message.
    await page.click('nav a[data-view=services]');
    await page.click('#create');
    await page.fill('#editor [name=name]', 'console-service');
    await page.fill('#editor [name=domain]', contract.domain);
    await page.fill('#editor [name=grants]', '[{"contractId": ');
    await page.click('#editor button[type=submit]');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('grants: not JSON');
    await page.fill('#editor [name=grants]', JSON.stringify([{ contractId: contract.id, role: 'web' }]));
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toMatch(/Created service \d+/);
    const service = (await lab.admin.services.list()).items.find((s) => s.name === 'console-service')!;
    expect(service.grants).toEqual([{ contractId: contract.id, role: 'web' }]);

    // A user, roles as a list; then deactivated through the edit form.
    await page.click('nav a[data-view=users]');
    await page.click('#create');
    await page.fill('#editor [name=login]', 'console-user');
    await page.fill('#editor [name=password]', 'console-password-1');
    await page.fill('#editor [name=roles]', 'contractAdmin, domainAdmin');
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toMatch(/Created user \d+/);
    const user = (await lab.admin.users.list()).items.find((u) => u.login === 'console-user')!;
    expect(user.roles.sort()).toEqual(['contractAdmin', 'domainAdmin']);
    await page.locator(`#table tbody tr[data-id="${user.id}"]`).getByRole('button', { name: 'Edit' }).click();
    await page.uncheck('#editor [name=active]');
    await page.click('#editor button[type=submit]');
    await expect.poll(() => outcome(page), { timeout: 15_000 }).toContain(`Saved user ${user.id}`);
    expect((await lab.admin.users.get(user.id)).active).toBe(false);

    // Revoke from the flows view: the topology's count follows.
    await page.click('nav a[data-view=flows]');
    await page
      .locator(`#table tbody tr[data-id="${h1Flow.id}"]`)
      .getByRole('button', { name: 'Revoke' })
      .click();
    await expect
      .poll(() => outcome(page), { timeout: 15_000 })
      .toContain(`Revoked flow authorization ${h1Flow.id}`);
    await page.click('nav a[data-view=topology]');
    await expect
      .poll(async () => (await readGraph(page))?.nodes.find((n) => n.id === `n${byName.get('h1')}`)?.label, {
        timeout: 15_000,
      })
      .toContain('0 flows');

    expect(await cspViolations()).toEqual([]);
    // The refused zone's 400 is logged by chromium as a resource error; nothing else may be.
    expect(problems.filter((message) => !/status of 400/.test(message))).toEqual([]);
  }, 180_000);
});
