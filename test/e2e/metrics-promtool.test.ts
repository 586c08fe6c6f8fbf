/**
 * The daemons' /metrics pass Prometheus's own linter, `promtool check metrics`: a running
 * controller (both listeners) and an engine's HTTP port, in a cluster whose engine has carried a
 * registration and keep-alives (so every family the engine renders is present).
 */
import { spawnSync } from 'node:child_process';
import { createEngineHttpServer } from '@capsule/engine';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../engine/cluster';

/** promtool's verdict on an exposition: exit code and what it said. */
function promtool(text: string) {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe.skipIf(!canRun({ tools: ['promtool'] }))('/metrics and promtool check metrics', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let engineUrl: string;
  let stopEngineHttp: () => Promise<void>;
  beforeAll(async () => {
    cluster = await startCluster('udp');
    const node = await cluster.addNode('e1', 'engine');
    const http = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: node.engine! });
    engineUrl = await http.start();
    stopEngineHttp = () => http.stop();
  }, 60_000);
  afterAll(async () => {
    await stopEngineHttp?.();
    await cluster?.stop();
  });

  it('promtool itself refuses a gauge named *_total (the check can fail)', () => {
    const bad = '# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n';
    expect(promtool(bad)).toMatchObject({ status: 3 });
  });

  it("accepts the controller's /metrics on both listeners", async () => {
    for (const url of [cluster.urls.northboundUrl, cluster.urls.southboundUrl]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toContain('capsule_controller_http_requests_total');
      expect(promtool(text), url).toEqual({ status: 0, output: '' });
    }
  });

  it("accepts the engine's /metrics", async () => {
    const text = await (await fetch(`${engineUrl}/metrics`)).text();
    expect(text).toContain('capsule_engine_drops_total');
    expect(promtool(text)).toEqual({ status: 0, output: '' });
  });
});
