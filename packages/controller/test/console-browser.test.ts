/**
 * The web console end to end in a real browser (Debian's chromium driven by playwright-core):
 * a bad password is refused with the API's error, a login opens the topology, the nodes view
 * lists the registered nodes, paging works, data is shown as text (never as HTML), and a flow
 * authorization is revoked, an endpoint deleted and a node decommissioned through the API (the console on a running lab, with the topology,
 * trace and forms: test/e2e/console-lab-browser.test.ts). The controller is reached through a non-loopback address when the machine has one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, registerNode, startController, tinyProgram } from './harness';

/** The first non-internal IPv4 address, else another loopback address than 127.0.0.1. */
function reachableHost(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const entry of list ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  return '127.0.0.2';
}

const chromiumPath = '/usr/bin/chromium';
const hostileText = '<img src=x onerror="document.title=\'pwned\'">';

describe.skipIf(!canRun({ tools: ['chromium'] }))('web console in chromium', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  let browser: BrowserContext;
  let profile: string;
  let consoleUrl: string;
  let authorizationId: number;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    c = await startController('sqlite', { listen: { host: '0.0.0.0', port: 0 } });
    const port = new URL(c.urls.northboundUrl).port;
    consoleUrl = `http://${reachableHost()}:${port}/console/`;
    const password = 'node-password-1';
    const zone = await c.admin.zones.create({ name: 'zone-ui', netprefix: 'fd00:7:7:7::/64' });
    await c.admin.users.create({ login: 'hosts', password, roles: ['hostOwner'], zoneId: zone.id });
    const hosts = { domain: 'default', username: 'hosts', password };
    const h1 = await registerNode(c.urls.southboundUrl, hosts, { type: 'host', hostname: 'ui-h1' });
    const h2 = await registerNode(c.urls.southboundUrl, hosts, { type: 'host', hostname: 'ui-h2' });
    const template = await c.admin.templates.create({
      name: 'ui-template',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client', variables: { port: 80 } },
        { name: 'server', entry: 'server', variables: { port: 80 } },
      ],
    });
    const contract = await c.admin.contracts.create({
      name: 'ui-web',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const service = await c.admin.services.create({
      name: 'ui-service',
      grants: [{ contractId: contract.id, role: 'server' }],
    });
    const serviceToken = (await c.admin.serviceTokens.create({ serviceId: service.id })).token!;
    await h2.sb.registerEndpoint({ serviceToken, contract: 'ui-web', role: 'server' });
    authorizationId = (await c.admin.authorizations.list()).items[0]!.id;
    // A second endpoint, on ui-h1: deleted from the endpoints view, then its node decommissioned.
    await h1.sb.registerEndpoint({ serviceToken, contract: 'ui-web', role: 'server' });
    for (let i = 0; i < 11; i += 1)
      await c.admin.domains.create({ name: `ui-page-${i}`, kind: 'application' });
    await c.admin.domains.create({ name: 'ui-hostile', kind: 'application', description: hostileText });

    profile = mkdtempSync(join(tmpdir(), 'capsule-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
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
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await c?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('refuses a bad password, logs in, lists nodes, pages, escapes text and revokes an authorization', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${message.text()} (${message.location().url})`);
    });
    const response = await page.goto(consoleUrl);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");

    // A bad password: the API's {code, message}, still on the login form, no token kept.
    await page.fill('input[name=domain]', 'default');
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('BAD_CREDENTIALS');
    expect(await page.isVisible('#login-form')).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('capsule.console.token')")).toBeNull();

    // The right password: the topology first; then the nodes view, with both registered hosts and
    // their keep-alive column.
    await page.fill('input[name=password]', adminPassword);
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#view-title'), { timeout: 15_000 }).toBe('Topology');
    await expect.poll(() => page.getAttribute('#graph', 'data-nodes'), { timeout: 15_000 }).toBe('2');
    await page.click('nav a[data-view=nodes]');
    await page.waitForSelector('#table tbody tr[data-id]');
    expect(await page.textContent('#view-title')).toBe('Nodes');
    const nodesText = await page.textContent('#table');
    expect(nodesText).toContain('ui-h1');
    expect(nodesText).toContain('ui-h2');
    expect(nodesText).toContain('registered');
    expect(nodesText).toContain('last keep-alive');
    expect(await page.evaluate("sessionStorage.getItem('capsule.console.token')")).toMatch(/^ey/);
    expect(await page.isVisible('#login-form')).toBe(false);

    // Domains, 10 per page: 13 domains (default + 11 + the hostile one) → two pages.
    await page.click('nav a[data-view=domains]');
    await expect.poll(() => page.textContent('#view-title'), { timeout: 15_000 }).toBe('Domains');
    await page.selectOption('#limit', '10');
    await expect.poll(() => page.textContent('#range'), { timeout: 15_000 }).toBe('1–10 of 13');
    expect(await page.isDisabled('#prev')).toBe(true);
    await page.click('#next');
    await expect.poll(() => page.textContent('#range'), { timeout: 15_000 }).toBe('11–13 of 13');
    expect(await page.isDisabled('#next')).toBe(true);
    // The hostile description is shown as text: no element made from it, no script ran.
    expect(await page.textContent('#table')).toContain(hostileText);
    expect(await page.locator('#table img').count()).toBe(0);
    expect(await page.title()).toBe('Capsule console');

    // Flow authorizations: revoke through the button; the API agrees.
    await page.click('nav a[data-view=flows]');
    const row = page.locator(`#table tbody tr[data-id="${authorizationId}"]`);
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect
      .poll(() => page.textContent('#notice'), { timeout: 15_000 })
      .toContain(`Revoked flow authorization ${authorizationId}`);
    expect((await c.admin.authorizations.get(authorizationId)).revokedAt).not.toBeNull();
    expect(await row.getByRole('button', { name: 'Revoke' }).count()).toBe(0);

    // Endpoints: the one left (ui-h1's) is deleted through its button, after a confirmation the
    // first time refused (nothing deleted), then accepted; the API agrees.
    const [left] = (await c.admin.endpoints.list()).items;
    expect(left).toBeDefined();
    await page.click('nav a[data-view=endpoints]');
    await expect.poll(() => page.textContent('#view-title'), { timeout: 15_000 }).toBe('Endpoints');
    const endpointRow = page.locator(`#table tbody tr[data-id="${left!.id}"]`);
    page.once('dialog', (dialog) => void dialog.dismiss());
    await endpointRow.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(async () => (await c.admin.endpoints.list()).total, { timeout: 5000 }).toBe(1);
    page.once('dialog', (dialog) => void dialog.accept());
    await endpointRow.getByRole('button', { name: 'Delete' }).click();
    await expect
      .poll(() => page.textContent('#notice'), { timeout: 15_000 })
      .toContain(`Deleted endpoint ${left!.id}`);
    expect((await c.admin.endpoints.list()).total).toBe(0);

    // Nodes: ui-h1 decommissioned through its button; the API no longer lists it.
    await page.click('nav a[data-view=nodes]');
    await expect.poll(() => page.textContent('#view-title'), { timeout: 15_000 }).toBe('Nodes');
    const h1Id = (await c.admin.nodes.list()).items.find((n) => n.hostname === 'ui-h1')!.id;
    page.once('dialog', (dialog) => void dialog.accept());
    await page
      .locator(`#table tbody tr[data-id="${h1Id}"]`)
      .getByRole('button', { name: 'Decommission' })
      .click();
    await expect.poll(() => page.textContent('#notice'), { timeout: 15_000 }).toContain('Deleted node ui-h1');
    expect((await c.admin.nodes.list()).items.map((n) => n.hostname)).toEqual(['ui-h2']);

    // The audit log shows the last change by the console's user (the node deleted).
    await page.click('nav a[data-view=audit]');
    await expect
      .poll(() => page.textContent('#table tbody tr:first-child'), { timeout: 15_000 })
      .toContain('delete');

    // Logging out forgets the token.
    await page.click('#logout');
    expect(await page.evaluate("sessionStorage.getItem('capsule.console.token')")).toBeNull();
    expect(await page.isVisible('#login-form')).toBe(true);
    // The failed login's 401 is logged by chromium as a resource error; nothing else may be.
    expect(pageErrors.filter((message) => !/status of 401/.test(message))).toEqual([]);
  }, 120_000);
});
