import type { SbEndpointResponse } from '@capsule/api';
import { describe, expect, it } from 'vitest';
import { decodeEndpoint } from './control-plane';

const code = Buffer.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00, 0x13, 0x05, 0x20, 0x00]);
const answer = (entry: string, variables: Record<string, number>): SbEndpointResponse => ({
  endpoint: {
    id: 9,
    domain: 'acme',
    domainId: 2,
    serviceId: 3,
    nodeId: 4,
    contractId: 5,
    role: 'client',
    hostId: 'fd00::1',
    authorizationSerial: '77',
    createdAt: '2026-01-01T00:00:00.000Z',
  },
  image: {
    code: code.toString('base64'),
    entries: { server: 8, client: 4, relay: 0 },
    dataSize: 8,
    data: Buffer.from([1, 0, 0, 0, 2, 0, 0, 0]).toString('base64'),
    layout: [
      { name: 'port', offset: 0, size: 4, type: 'int' },
      { name: 'mode', offset: 4, size: 2, type: 'short' },
    ],
  },
  entry,
  variables,
  logicHash: 'ab'.repeat(32),
  peers: [],
  authorization: {
    id: 1,
    serial: '77',
    domain: 'acme',
    domainId: 2,
    endpointId: 9,
    contractId: 5,
    role: 'client',
    roleId: 1,
    nodeId: 4,
    hostId: 'fd00::1',
    logicHash: 'ab'.repeat(32),
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2026-01-02T00:00:00.000Z',
    revokedAt: null,
    signed: Buffer.alloc(148, 1).toString('base64'),
  },
});
const request = { serviceToken: '1:x', contract: 'shop', role: 'client' };

describe('decodeEndpoint', () => {
  it('gives the data plane the role entry first and the DATA chunk with the variables written in', () => {
    const { spec } = decodeEndpoint(answer('client', { port: 8080, mode: -1 }), request);
    expect(spec.code.entryOffsets).toEqual([4, 0, 8]);
    expect([...spec.code.machineCode]).toEqual([...code]);
    expect([...spec.data]).toEqual([0x90, 0x1f, 0, 0, 0xff, 0xff, 0, 0]);
    expect(spec.authorization).toHaveLength(148);
    expect(spec).toMatchObject({ id: 9, contractId: 5, role: 'client', authorizationSerial: '77' });
    // Without variables: the image's initial bytes.
    expect([...decodeEndpoint(answer('server', {}), request).spec.data]).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
  });

  it('refuses an answer whose entry the program does not have', () => {
    expect(() => decodeEndpoint(answer('nope', {}), request)).toThrow(/no entry nope/);
  });
});
