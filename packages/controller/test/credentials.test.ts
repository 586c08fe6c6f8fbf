/**
 * Credentials and tokens against a real controller on SQLite (issue 13, item 7): ids in paths are
 * read strictly; a password change ends the user's sessions (user and node tokens), as disabling
 * and deleting do; a token dated ahead is refused; weak passwords are refused at bootstrap and
 * through the API; failed logins are throttled per account and per address with `Retry-After`.
 */
import { request as httpRequest } from 'node:http';
import { ApiError, createApiClient, createSouthboundClient, passwordProblem } from '@capsule/api';
import { createController } from '@capsule/controller';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, createTestStore, quietLogger, startController } from './harness';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error.code;
}

/** One HTTP request from a chosen loopback source address (127.0.0.0/8 is all local on Linux). */
function requestFrom(
  url: string,
  options: { method: string; localAddress?: string; token?: string; body?: unknown },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method,
        localAddress: options.localAddress,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('credentials and tokens (SQLite)', () => {
  let now = Date.now();
  let c: Awaited<ReturnType<typeof startController>>;
  beforeAll(async () => {
    c = await startController('sqlite', { loginFailuresPerMinute: 4 }, { clock: { nowMs: () => now } });
  }, 60_000);
  afterAll(async () => c?.stop());

  const login = async (username: string, password: string, domain = 'default') => {
    const client = createApiClient({ baseUrl: c.urls.northboundUrl });
    await client.login({ domain, username, password });
    return client;
  };

  it('reads path ids strictly: /users/0x1, 01, 1e0, +1, " 1", 1.0 are 400, never user 1', async () => {
    const url = (id: string) => `${c.urls.northboundUrl}/api/v1/users/${encodeURIComponent(id)}`;
    const token = c.admin.token;
    expect((await requestFrom(url('1'), { method: 'GET', token })).status).toBe(200);
    for (const id of [
      '0x1',
      '01',
      '1e0',
      '+1',
      ' 1',
      '1.0',
      '0b1',
      '1 ',
      '0',
      '-1',
      '2147483648',
      '99999999999',
    ]) {
      const answer = await requestFrom(url(id), { method: 'GET', token });
      expect(answer.status, id).toBe(400);
      expect(JSON.parse(answer.body), id).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    // Every verb with an id, and the revoke action.
    for (const method of ['PATCH', 'DELETE']) {
      const answer = await requestFrom(url('0x1'), {
        method,
        token,
        body: method === 'PATCH' ? {} : undefined,
      });
      expect(answer.status, method).toBe(400);
    }
    const revoke = await requestFrom(`${c.urls.northboundUrl}/api/v1/authorizations/0x1/revoke`, {
      method: 'POST',
      token,
    });
    expect(revoke.status).toBe(400);
    // Arbitrary id texts (fixed seed): only canonical decimals name an object.
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 12 }), async (text) => {
        const answer = await requestFrom(url(text), { method: 'GET', token });
        if (answer.status === 200) expect(JSON.parse(answer.body).id).toBe(1);
        if (answer.status === 200) expect(text).toBe('1');
      }),
      { seed: testSeed, numRuns: 60 },
    );
  });

  it('a password change ends every token of that user (user and node tokens), at once', async () => {
    const zone = await c.admin.zones.create({ name: 'cred-zone', netprefix: 'fd00:13:7::/64' });
    const user = await c.admin.users.create({
      login: 'rotating',
      password: 'first-password-1',
      roles: ['domainAdmin', 'hostOwner'],
      zoneId: zone.id,
    });
    const first = await login('rotating', 'first-password-1');
    const second = await login('rotating', 'first-password-1');
    const node = createSouthboundClient({ baseUrl: c.urls.southboundUrl });
    await node.login({ domain: 'default', username: 'rotating', password: 'first-password-1' });
    await first.domains.list(); // valid, and remembered as verified
    await node.nonce();
    // Another field changed: tokens stay valid.
    await c.admin.users.update(user.id, { roles: ['domainAdmin', 'hostOwner'] });
    await first.domains.list();
    await c.admin.users.update(user.id, { password: 'second-password-2' });
    for (const client of [first, second]) {
      const error = await client.domains.list().catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'UNAUTHENTICATED',
        message: expect.stringMatching(/password changed/),
      });
    }
    expect(await codeOf(node.nonce())).toBe('UNAUTHENTICATED');
    expect(await codeOf(login('rotating', 'first-password-1'))).toBe('BAD_CREDENTIALS');
    const fresh = await login('rotating', 'second-password-2');
    await fresh.domains.list();
    // The user changes their own password: their own older tokens end too.
    await fresh.users.update(user.id, { password: 'third-password-3' });
    expect(await codeOf(fresh.domains.list())).toBe('UNAUTHENTICATED');
    // Disabled, then deleted: the token ends each time.
    const third = await login('rotating', 'third-password-3');
    await c.admin.users.update(user.id, { active: false });
    expect(await codeOf(third.domains.list())).toBe('UNAUTHENTICATED');
    await c.admin.users.update(user.id, { active: true });
    const fourth = await login('rotating', 'third-password-3');
    await c.admin.users.remove(user.id);
    expect(await codeOf(fourth.domains.list())).toBe('UNAUTHENTICATED');
  });

  it('refuses a node login to a user with neither hostOwner nor engineOwner, right password or not', async () => {
    await c.admin.users.create({
      login: 'no-nodes',
      password: 'no-nodes-password-1',
      roles: ['contractAdmin'],
    });
    const node = createSouthboundClient({ baseUrl: c.urls.southboundUrl });
    expect(
      await codeOf(node.login({ domain: 'default', username: 'no-nodes', password: 'no-nodes-password-1' })),
    ).toBe('FORBIDDEN');
    expect(await codeOf(node.nonce())).toBe('UNAUTHENTICATED');
    // The same user logs in northbound.
    await login('no-nodes', 'no-nodes-password-1');
  });

  it('refuses a token issued a day ahead of the clock (and accepts one within the skew)', async () => {
    const realNow = now;
    try {
      now = realNow + 24 * 3_600_000;
      const ahead = await login('admin', adminPassword);
      now = realNow;
      const error = await ahead.domains.list().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'the token was issued in the future' });
      now = realNow + 30_000;
      const slightlyAhead = await login('admin', adminPassword);
      now = realNow;
      await slightlyAhead.domains.list();
    } finally {
      now = realNow;
    }
  });

  it('refuses weak passwords with WEAK_PASSWORD (create and change), and nothing is stored', async () => {
    for (const weak of ['x', 'short-pw', 'password1234', 'aaaaaaaaaaaaaaaa', '123456789012', 'weakling-user'])
      expect(
        await codeOf(c.admin.users.create({ login: 'weakling-user', password: weak, roles: ['hostOwner'] })),
        weak,
      ).toBe('WEAK_PASSWORD');
    expect((await c.admin.users.list({ limit: 100 })).items.map((u) => u.login)).not.toContain(
      'weakling-user',
    );
    const user = await c.admin.users.create({
      login: 'strong',
      password: 'strong-password-1',
      roles: ['hostOwner'],
    });
    expect(await codeOf(c.admin.users.update(user.id, { password: 'x' }))).toBe('WEAK_PASSWORD');
    await login('strong', 'strong-password-1');
  });

  it('throttles failed logins per account and address, per account, per address; 429 carries Retry-After', async () => {
    const url = `${c.urls.northboundUrl}/api/v1/auth/token`;
    await c.admin.users.create({ login: 'victim', password: 'victim-password-1', roles: ['hostOwner'] });
    await c.admin.users.create({
      login: 'bystander',
      password: 'bystander-password-1',
      roles: ['hostOwner'],
    });
    const attempt = (username: string, password: string, localAddress: string) =>
      requestFrom(url, { method: 'POST', localAddress, body: { domain: 'default', username, password } });
    // The victim logs in once from their usual address.
    expect((await attempt('victim', 'victim-password-1', '127.0.0.9')).status).toBe(200);
    // One address (a shared proxy) guessing the victim's password: 4 failures, then 429 with Retry-After.
    for (let i = 0; i < 4; i += 1)
      expect((await attempt('victim', `guess-${i}`, '127.0.0.2')).status).toBe(401);
    const limited = await attempt('victim', 'victim-password-1', '127.0.0.2');
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another user behind the same address is not locked out by it.
    expect((await attempt('bystander', 'bystander-password-1', '127.0.0.2')).status).toBe(200);
    // Many addresses guessing the same account: the per-account limit (3 × 4 = 12) stops them
    // (4 failures counted above; 8 more from 8 other addresses, then 429 from a ninth).
    for (let i = 0; i < 8; i += 1)
      expect((await attempt('victim', `spread-${i}`, `127.0.1.${i + 1}`)).status).toBe(401);
    const spread = await attempt('victim', 'victim-password-1', '127.0.2.1');
    expect(spread.status).toBe(429);
    expect(spread.headers['retry-after']).toMatch(/^[0-9]+$/);
    // ... but the victim's own known address still gets in.
    expect((await attempt('victim', 'victim-password-1', '127.0.0.9')).status).toBe(200);
    // The client reads Retry-After into the error.
    const client = createApiClient({ baseUrl: c.urls.northboundUrl });
    const error = (await client
      .login({ domain: 'default', username: 'victim', password: 'victim-password-1' })
      .catch((e: unknown) => e)) as ApiError;
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // One address spraying over many accounts: the per-address limit (10 × 4 = 40).
    const codes: number[] = [];
    for (let i = 0; i < 42; i += 1)
      codes.push((await attempt(`nobody-${i}`, 'spray-password-1', '127.0.3.1')).status);
    expect(codes.slice(0, 40).every((status) => status === 401)).toBe(true);
    expect(codes.slice(40)).toEqual([429, 429]);
    // The window passes: everyone may try again.
    now += 61_000;
    expect((await attempt('victim', 'victim-password-1', '127.0.0.2')).status).toBe(200);
    expect((await attempt('bystander', 'bystander-password-1', '127.0.3.1')).status).toBe(200);
  });
});

describe('bootstrap password', () => {
  it('a weak CAPSULE_ADMIN_PASSWORD stops the start with WEAK_PASSWORD; nothing is created', async () => {
    for (const weak of ['x', 'admin', 'password', 'admin-123', 'aaaaaaaaaaaaaaaa']) {
      expect(passwordProblem(weak, 'admin'), weak).toEqual(expect.any(String));
      const store = await createTestStore('sqlite');
      try {
        const error = await createController(
          {
            listen: { host: '127.0.0.1', port: 0 },
            southboundListen: { host: '127.0.0.1', port: 0 },
            adminPassword: weak,
            store: store.url,
          },
          { logger: quietLogger },
        ).catch((e: unknown) => e);
        expect(error, weak).toBeInstanceOf(ApiError);
        expect((error as ApiError).code).toBe('WEAK_PASSWORD');
        expect((error as ApiError).message).toMatch(/CAPSULE_ADMIN_PASSWORD/);
      } finally {
        await store.drop();
      }
    }
  });
});
