/**
 * The controller session against a real controller: the push channel, once open, is reopened by
 * itself after the controller restarts (between two keep-alives nothing else would notice), and
 * stays closed after closePush.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/control-plane';
import { createMemoryIdentityStore, ensureCga, ensureHostKeys } from '../src/host-identity';
import { startControllerFixture } from './fixture';

describe('controller session push channel', () => {
  let fixture: Awaited<ReturnType<typeof startControllerFixture>>;
  let control: ControlPlane;
  const logged: string[] = [];

  beforeAll(async () => {
    fixture = await startControllerFixture();
    control = new ControlPlane(
      {
        controllerUrl: fixture.urls.southboundUrl,
        credentials: fixture.credentials,
        hostName: 'push.example',
        locator: '127.0.0.1:7447',
        pushRetryMs: 100,
      },
      { onCommand: () => {}, log: (_level, message) => logged.push(message) },
    );
    const store = createMemoryIdentityStore();
    const host = await ensureHostKeys(store, 'push.example');
    const profile = await control.login();
    const cga = await ensureCga(store, host.persisted, host.keys, profile.scope.netprefix, { sec: 0 });
    await control.register(host.keys, cga);
  }, 60_000);
  afterAll(async () => {
    control?.closePush();
    await fixture?.stop();
  });

  it('reopens the push channel after a controller restart', async () => {
    await control.openPush();
    expect(control.isPushOpen).toBe(true);
    await fixture.restart();
    await expect.poll(() => control.pushReopens, { timeout: 10_000 }).toBe(1);
    expect(control.isPushOpen).toBe(true);
    expect(logged).toContain('push channel reopened');
  }, 20_000);

  it('does not reopen a channel closed on purpose', async () => {
    control.closePush();
    await fixture.restart();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(control.pushReopens).toBe(1);
    expect(control.isPushOpen).toBe(false);
  }, 20_000);
});
