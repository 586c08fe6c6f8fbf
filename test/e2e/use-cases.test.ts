/**
 * Every use case of examples/use-cases end to end on the in-process lab, on the default topology
 * and on a second wiring (examples/lab/wide.yaml: four engines, members behind another engine)
 * with the use cases unchanged — nothing in either topology tells an engine where members are: a
 * real controller, three engines and five agents; contracts applied, endpoints registered through
 * the agents, real packets through the agents' data planes and the engines, outcomes measured at
 * the receiving applications. The same use cases with the daemons and real applications on the
 * netns lab: use-cases-netns.test.ts.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultTopologyYaml,
  listUseCases,
  loadUseCase,
  type MemoryLab,
  parseTopology,
  runUseCase,
  startMemoryLab,
  type UseCaseResult,
} from '@capsule/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const useCases = listUseCases(join(import.meta.dirname, '../../examples/use-cases'));

/**
 * Content distribution, beyond "every step passed": the nearest replica by path cost got the
 * traffic, then the other one did after the stop, within the use case's 1 s gap.
 */
function checkContentDistribution(result: UseCaseResult, nearestFirst: string, nextNearest: string) {
  expect(result.steps[0]!.detail).toContain(`nearest: ${nearestFirst} (`);
  expect(result.steps[0]!.detail).toMatch(new RegExp(`received ${nearestFirst} 20 `));
  const stop = result.steps[1]!;
  expect(stop.step).toContain(`stop ${nearestFirst} under traffic`);
  expect(stop.gapMs).toBeDefined();
  expect(stop.gapMs!).toBeLessThanOrEqual(1000);
  expect(stop.detail).toContain(`traffic moved to ${nextNearest}`);
  console.info(`content distribution: ${stop.step}: ${stop.detail}`);
  expect(result.steps[2]!.detail).toContain(`nearest: ${nextNearest} (`);
}

describe('use cases end to end (in-process lab)', () => {
  let lab: MemoryLab;
  beforeAll(async () => {
    lab = await startMemoryLab(parseTopology(defaultTopologyYaml), {
      dataDir: mkdtempSync(join(tmpdir(), 'capsule-e2e-')),
    });
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('knows the seven use cases', () => {
    expect(useCases.map((u) => u.name)).toEqual([
      'micro-segmentation',
      'load-balancing',
      'multicast',
      'service-chain',
      'failover',
      'revocation',
      'content-distribution',
    ]);
  });

  for (const useCase of useCases)
    it(`${useCase.name}: ${useCase.title}`, async () => {
      const result = await runUseCase(lab, useCase);
      expect(result.error).toBeUndefined();
      expect(
        result.steps.filter((step) => !step.passed).map((step) => `${step.step}: ${step.detail}`),
      ).toEqual([]);
      if (useCase.name === 'content-distribution') checkContentDistribution(result, 'h2', 'h3');
    }, 60_000);

  it('two contracts between the same two hosts (test/e2e/two-contracts): each carried on its own flow', async () => {
    const result = await runUseCase(lab, loadUseCase(join(import.meta.dirname, 'two-contracts')));
    expect(result.error).toBeUndefined();
    expect(result.steps.filter((step) => !step.passed).map((step) => `${step.step}: ${step.detail}`)).toEqual(
      [],
    );
    expect(result.steps[1]!.detail).toContain('nearest: h3 (');
  }, 60_000);
});

describe('use cases end to end on a second wiring (examples/lab/wide.yaml, in-process)', () => {
  let lab: MemoryLab;
  beforeAll(async () => {
    const topology = readFileSync(join(import.meta.dirname, '../../examples/lab/wide.yaml'), 'utf8');
    lab = await startMemoryLab(parseTopology(topology), {
      dataDir: mkdtempSync(join(tmpdir(), 'capsule-e2e-wide-')),
    });
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  for (const useCase of useCases)
    it(`${useCase.name}: ${useCase.title}`, async () => {
      const result = await runUseCase(lab, useCase);
      expect(result.error).toBeUndefined();
      expect(
        result.steps.filter((step) => !step.passed).map((step) => `${step.step}: ${step.detail}`),
      ).toEqual([]);
      if (useCase.name === 'content-distribution') checkContentDistribution(result, 'h3', 'h2');
    }, 60_000);
});
