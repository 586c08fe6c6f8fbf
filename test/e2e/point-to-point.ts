/**
 * The policy the in-process e2e suites build their flows on: a point-to-point contract `name`
 * (client ↔ server, the library's PointToPoint program), its template and a service granted both
 * roles, as a use case to hand to `applyUseCase`.
 */
import { join } from 'node:path';
import type { UseCase } from '@capsule/lab';

const programDir = join(import.meta.dirname, '../../examples/use-cases/6-revocation');

export function pointToPoint(name: string): UseCase {
  return {
    name,
    title: name,
    dir: programDir,
    documents: [
      {
        kind: 'template',
        name: `t-${name}`,
        program: '../../programs/PointToPoint.java',
        roles: [
          { name: 'client', entry: 'route' },
          { name: 'server', entry: 'route' },
        ],
      },
      {
        kind: 'contract',
        name,
        template: `t-${name}`,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      },
      {
        kind: 'service',
        name: `s-${name}`,
        grants: [
          { contract: name, role: 'client' },
          { contract: name, role: 'server' },
        ],
      },
    ],
    endpoints: [],
    steps: [],
  };
}
