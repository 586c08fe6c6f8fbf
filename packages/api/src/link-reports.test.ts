import { createManualClock } from '@capsule/testkit';
import { describe, expect, it } from 'vitest';
import { createLinkReports, finalRefusals } from './link-reports';
import type { SbLinkRequest } from './schemas';

/**
 * A send whose requests the test answers one by one (in any order it likes): `true` answered,
 * `false` failed (no answer: retried), a code refused with that code.
 */
function manualSend() {
  const calls: { request: SbLinkRequest; answer(outcome: boolean | string): void }[] = [];
  const send = (request: SbLinkRequest) =>
    new Promise<void>((resolve, reject) => {
      calls.push({
        request,
        answer: (outcome) =>
          outcome === true
            ? resolve()
            : reject(Object.assign(new Error('no answer'), outcome === false ? {} : { code: outcome })),
      });
    });
  return { calls, send };
}
/** Retries on a manual clock; failures recorded as [status, retryInMs]. */
function retrying() {
  const clock = createManualClock(0);
  const failures: [string, number | undefined][] = [];
  return {
    clock,
    failures,
    options: {
      setTimeout: clock.setTimeout,
      onFailure: (request: SbLinkRequest, _error: unknown, retryInMs: number | undefined) =>
        failures.push([request.status ?? 'up', retryInMs]),
    },
  };
}
const settle = () => new Promise((resolve) => setImmediate(resolve));
const report = (peer: string, status: 'up' | 'down'): SbLinkRequest => ({
  peerHostId: peer,
  localEndpoint: '10.0.0.1:4500',
  remoteEndpoint: '10.0.0.2:4500',
  ...(status === 'down' && { status }),
});
const statusOf = (request: SbLinkRequest) => request.status ?? 'up';

describe('link reports', () => {
  it('sends a peer’s down only after its up was answered (never two in flight for one peer)', async () => {
    const { calls, send } = manualSend();
    const reports = createLinkReports(send, retrying().options);
    reports.report(report('fd00::e2', 'up'));
    reports.report(report('fd00::e2', 'down'));
    await settle();
    expect(calls.map((c) => statusOf(c.request))).toEqual(['up']);
    expect(reports.pending()).toBe(2);
    calls[0]!.answer(true);
    await settle();
    expect(calls.map((c) => statusOf(c.request))).toEqual(['up', 'down']);
    calls[1]!.answer(true);
    await settle();
    expect(reports.pending()).toBe(0);
  });

  it('sends only the latest of the reports that waited, and goes on after a refusal', async () => {
    const { calls, send } = manualSend();
    const reports = createLinkReports(send, retrying().options);
    for (const status of ['up', 'down', 'up', 'down'] as const) reports.report(report('fd00::e2', status));
    await settle();
    calls[0]!.answer(false); // failed, but a newer report waits: it goes instead
    await settle();
    expect(calls.map((c) => statusOf(c.request))).toEqual(['up', 'down']);
    calls[1]!.answer(true);
    await settle();
    expect(calls).toHaveLength(2);
    expect(reports.pending()).toBe(0);
  });

  it('keeps peers apart: another peer’s report does not wait', async () => {
    const { calls, send } = manualSend();
    const reports = createLinkReports(send, retrying().options);
    reports.report(report('fd00::e1', 'up'));
    reports.report(report('fd00::e2', 'up'));
    await settle();
    expect(calls.map((c) => c.request.peerHostId)).toEqual(['fd00::e1', 'fd00::e2']);
  });

  it('goes on when send throws instead of rejecting', async () => {
    let sent = 0;
    const reports = createLinkReports(() => {
      sent += 1;
      if (sent === 1) throw new Error('no client');
      return Promise.resolve();
    }, retrying().options);
    reports.report(report('fd00::e2', 'up'));
    reports.report(report('fd00::e2', 'down'));
    await settle();
    await settle();
    expect(sent).toBe(2);
    expect(reports.pending()).toBe(0);
  });

  it('tries a failed report again, waiting 1 s, 2 s, 4 s … up to retryMaxMs, until it is answered', async () => {
    const { calls, send } = manualSend();
    const { clock, failures, options } = retrying();
    const reports = createLinkReports(send, { ...options, retryMaxMs: 4000 });
    reports.report(report('fd00::e2', 'down'));
    const waits: number[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await settle();
      calls.at(-1)!.answer(false);
      await settle();
      const sent = calls.length;
      const before = clock.nowMs();
      // 1 ms at a time, for at most a minute: how long until it goes again (-1: never).
      while (calls.length === sent && clock.nowMs() - before < 60_000) clock.advance(1);
      waits.push(calls.length === sent ? -1 : clock.nowMs() - before);
      if (calls.length === sent) break;
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000, 4000]);
    expect(calls.every((call) => statusOf(call.request) === 'down')).toBe(true);
    expect(reports.pending()).toBe(1);
    calls.at(-1)!.answer(true);
    await settle();
    expect(reports.pending()).toBe(0);
    expect(reports.retries).toBe(5);
    expect(failures.map(([, wait]) => wait)).toEqual([1000, 2000, 4000, 4000, 4000]);
  });

  it('takes a refusal of what the report says as final: not sent again', async () => {
    for (const code of finalRefusals) {
      const { calls, send } = manualSend();
      const { clock, failures, options } = retrying();
      const reports = createLinkReports(send, options);
      reports.report(report('fd00::e2', 'down'));
      await settle();
      calls[0]!.answer(code);
      await settle();
      clock.advance(120_000);
      await settle();
      expect(calls, code).toHaveLength(1);
      expect(failures, code).toEqual([['down', undefined]]);
      expect(reports.pending(), code).toBe(0);
    }
  });

  it('sends a report that came while a failed one waited instead of it (it says the state now)', async () => {
    const { calls, send } = manualSend();
    const { clock, options } = retrying();
    const reports = createLinkReports(send, options);
    reports.report(report('fd00::e2', 'up'));
    await settle();
    calls[0]!.answer('UNAVAILABLE');
    await settle();
    reports.report(report('fd00::e2', 'down')); // waits behind the retry
    expect(calls).toHaveLength(1);
    expect(reports.pending()).toBe(2);
    clock.advance(1000);
    await settle();
    expect(calls.map((c) => statusOf(c.request))).toEqual(['up', 'down']);
    calls[1]!.answer(true);
    await settle();
    expect(reports.pending()).toBe(0);
  });

  it('cancels the retries waiting on close, and retries again after the next report', async () => {
    const { calls, send } = manualSend();
    const { clock, options } = retrying();
    const reports = createLinkReports(send, options);
    reports.report(report('fd00::e2', 'down'));
    await settle();
    calls[0]!.answer(false);
    await settle();
    reports.close();
    expect(reports.pending()).toBe(0);
    clock.advance(60_000);
    await settle();
    expect(calls).toHaveLength(1);
    reports.report(report('fd00::e3', 'down'));
    await settle();
    calls[1]!.answer(false);
    await settle();
    clock.advance(1000);
    await settle();
    expect(calls.map((c) => c.request.peerHostId)).toEqual(['fd00::e2', 'fd00::e3', 'fd00::e3']);
  });
});
