import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listUseCases, loadUseCase } from './use-cases';

const examples = join(import.meta.dirname, '../../../examples/use-cases');

describe('use case files', () => {
  it('reads every step kind of the seven examples', () => {
    const useCases = listUseCases(examples);
    expect(useCases.map((u) => u.name)).toEqual([
      'micro-segmentation',
      'load-balancing',
      'multicast',
      'service-chain',
      'failover',
      'revocation',
      'content-distribution',
    ]);
    const byName = new Map(useCases.map((u) => [u.name, u]));
    expect(byName.get('load-balancing')!.steps[0]).toMatchObject({
      kind: 'send',
      from: 'h1',
      toRole: 'server',
      to: ['h3', 'h4', 'h5'],
      flows: 300,
      expect: 'spread',
      tolerance: 0.2,
    });
    expect(byName.get('multicast')!.steps[0]).toMatchObject({ toRole: 'member', notTo: ['h4', 'h5'] });
    expect(byName.get('service-chain')!.steps[0]).toMatchObject({ via: ['e1', 'e3', 'e2'] });
    expect(byName.get('failover')!.steps.map((s) => s.kind)).toEqual([
      'send',
      'cut',
      'send',
      'send',
      'restore',
    ]);
    expect(byName.get('failover')!.steps[1]).toEqual({
      kind: 'cut',
      a: 'e1',
      z: 'e3',
      probe: { from: 'h1', to: 'h3', intervalMs: 10, durationMs: 3000, maxGapMs: 2000 },
    });
    expect(byName.get('revocation')!.steps[1]).toEqual({ kind: 'revoke', host: 'h1' });
    expect(byName.get('content-distribution')!.steps[0]).toMatchObject({
      kind: 'send',
      toRole: 'replica',
      to: ['h2', 'h3'],
      expect: 'nearest',
    });
    expect(byName.get('content-distribution')!.steps[1]).toEqual({
      kind: 'stop',
      host: 'nearest',
      probe: {
        from: 'h1',
        toRole: 'replica',
        to: ['h2', 'h3'],
        intervalMs: 10,
        durationMs: 3000,
        maxGapMs: 1000,
      },
    });
    // Every template names a program that exists (relative to its use case directory).
    for (const useCase of useCases)
      expect(useCase.documents.find((d) => d.kind === 'template')?.program).toBeTruthy();
  });

  it('refuses an unknown step or expectation with LAB_BAD_USE_CASE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-use-case-'));
    const write = (steps: string) => {
      mkdirSync(join(dir, 'x'), { recursive: true });
      writeFileSync(join(dir, 'x', 'contract.yaml'), 'kind: service\nname: s\n');
      writeFileSync(join(dir, 'x', 'use-case.yaml'), `name: x\nendpoints: []\nsteps:\n${steps}`);
      return () => loadUseCase(join(dir, 'x'));
    };
    expect(write('  - jump: {}\n')).toThrow(/steps\[0\] is send, revoke, stop, cut or restore/);
    expect(write('  - send: { from: h1, to: h2 }\n    expect: maybe\n')).toThrow(
      /delivered, dropped, spread or nearest/,
    );
    // nearest needs a role; a stop's probe sends to a role.
    expect(write('  - send: { from: h1, to: [h2, h3] }\n    expect: nearest\n')).toThrow(
      /nearest needs send.toRole/,
    );
    expect(write('  - stop: h2\n    probe: { from: h1, to: [h2, h3] }\n')).toThrow(/probe sends to a role/);
    for (const stream of ['0', '31', '1.5', 'long'])
      expect(write(`  - send: { from: h1, to: h2, stream: ${stream} }\n`)).toThrow(
        /stream is whole seconds of iperf3, 1 to 30/,
      );
    rmSync(dir, { recursive: true });
  });
});
