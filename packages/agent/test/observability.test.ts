/**
 * The agent's /metrics (Prometheus text that `promtool check metrics` accepts) and its flow events
 * (`GET /api/v1/events`: data-plane drops with reason and direction), on an agent registered with a
 * real controller; hostile query strings refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFlowEvent, type FlowEvent } from '@capsule/api';
import { createMemoryNetwork } from '@capsule/overlay';
import { canRun } from '@capsule/testkit';
import { encodeIpv6Header, parseIpv6 } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Agent,
  createAgent,
  createMemoryIdentityStore,
  defaultAgentOptions,
  type EgressResult,
} from '../src/index';
import { startControllerFixture } from './fixture';

describe('agent observability', () => {
  let fixture: Awaited<ReturnType<typeof startControllerFixture>>;
  let agent: Agent;
  let send: ((bytes: Uint8Array, offset: number, length: number) => EgressResult) | undefined;
  const network = createMemoryNetwork();
  const transport = network.attach({ host: '10.0.9.1', port: 7447 });
  const url = (path: string) => `http://127.0.0.1:${agent.restAddress()!.port}${path}`;
  // The agent API over TCP takes the bearer token the agent wrote (rest-access.test.ts).
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'capsule-agent-observe-')), 'agent.token');
  const authed = (input: string, init: RequestInit = {}) =>
    fetch(input, {
      ...init,
      headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` },
    });

  beforeAll(async () => {
    fixture = await startControllerFixture();
    agent = createAgent(
      {
        ...defaultAgentOptions,
        controllerUrl: fixture.urls.southboundUrl,
        credentials: fixture.credentials,
        hostName: 'observed.example',
        tun: undefined,
        resolver: undefined,
        cgaSec: 0,
        rest: {
          ...defaultAgentOptions.rest,
          socketPath: undefined,
          tcp: { host: '127.0.0.1', port: 0 },
          tokenFile,
          bodyLimitBytes: 4096,
        },
      },
      {
        identityStore: createMemoryIdentityStore(),
        transport,
        app: { start: (egress) => void (send = egress), write() {} },
      },
    );
    await agent.start();
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await transport.close();
    await fixture?.stop();
  });

  /** An IPv6 UDP packet from the application to `destination` (no flow goes there). */
  function applicationPacket(destination: string): Uint8Array {
    const packet = new Uint8Array(48);
    const parsed = parseIpv6(destination);
    if (!parsed.ok) throw new Error(destination);
    encodeIpv6Header(
      {
        trafficClass: 0,
        flowLabel: 5,
        payloadLength: 8,
        nextHeader: 17,
        hopLimit: 64,
        source: new Uint8Array(16),
        destination: parsed.value,
      },
      packet,
      0,
    );
    return packet;
  }

  it("serves /metrics that promtool accepts, with the data plane's drops by reason", async () => {
    const response = await authed(url('/metrics'));
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('capsule_agent_drops_total{reason="noFlow"} 0');
    expect(text).toContain('capsule_agent_controller_connected 1');
    if (canRun({ tools: ['promtool'] }) || process.env.CI) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ status: check.status, output: `${check.stdout}${check.stderr}`.trim() }).toEqual({
        status: 0,
        output: '',
      });
    }
  });

  it('streams a drop event with reason and direction while observed, and counts it in /metrics', async () => {
    const controller = new AbortController();
    const response = await authed(url('/api/v1/events?verdict=DROP'), { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const reader = response.body!.getReader();
    send!(applicationPacket('2001:db8::99'), 0, 48);
    const { value } = await reader.read();
    controller.abort();
    const decoded = decodeFlowEvent(new TextDecoder().decode(value).trim());
    expect(decoded).toHaveProperty('event');
    const event = (decoded as { event: FlowEvent }).event;
    expect(event).toMatchObject({
      node: 'agent observed.example',
      kind: 'drop',
      reason: 'noFlow',
      direction: 'out',
      destination: '2001:db8::99',
      flowLabel: 5,
    });
    const text = await (await authed(url('/metrics'))).text();
    expect(text).toContain('capsule_agent_drops_total{reason="noFlow"} 1');
    expect(text).toContain('capsule_agent_events_total{outcome="published"} 1');
    // Nobody observes any more: drops are counted, no event is built.
    // The server side of an aborted stream closes a moment later (longer under load).
    for (let i = 0; i < 200 && agent.events.active; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(agent.events.active).toBe(false);
    send!(applicationPacket('2001:db8::98'), 0, 48);
    expect(agent.events.counters().published).toBe(1);
  });

  it('refuses hostile event queries with 400 and keeps serving', async () => {
    for (const query of [
      'verdict=SOMETIMES',
      'contract=abc',
      'kind=',
      'nope=1',
      `host=${'h'.repeat(400)}`,
      'host=a&host=b',
    ])
      expect((await authed(url(`/api/v1/events?${query}`))).status, query).toBe(400);
    expect((await authed(url(`/api/v1/events?${'x'.repeat(3000)}`))).status).toBe(400);
    expect((await authed(url('/api/v1/status'))).status).toBe(200);
  });
});
