import { describe, expect, it } from 'vitest';
import { createLinkReports } from './link-reports';
import type { SbLinkRequest } from './schemas';

/** A send whose requests the test answers one by one (in any order it likes). */
function manualSend() {
  const calls: { request: SbLinkRequest; answer(ok: boolean): void }[] = [];
  const send = (request: SbLinkRequest) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ request, answer: (ok) => (ok ? resolve() : reject(new Error('refused'))) });
    });
  return { calls, send };
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
    const reports = createLinkReports(send);
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
    const reports = createLinkReports(send);
    for (const status of ['up', 'down', 'up', 'down'] as const) reports.report(report('fd00::e2', status));
    await settle();
    calls[0]!.answer(false); // refused (or failed): the next still goes
    await settle();
    expect(calls.map((c) => statusOf(c.request))).toEqual(['up', 'down']);
    calls[1]!.answer(true);
    await settle();
    expect(calls).toHaveLength(2);
    expect(reports.pending()).toBe(0);
  });

  it('keeps peers apart: another peer’s report does not wait', async () => {
    const { calls, send } = manualSend();
    const reports = createLinkReports(send);
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
    });
    reports.report(report('fd00::e2', 'up'));
    reports.report(report('fd00::e2', 'down'));
    await settle();
    await settle();
    expect(sent).toBe(2);
    expect(reports.pending()).toBe(0);
  });
});
