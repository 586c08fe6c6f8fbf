import { describe, expect, it } from 'vitest';
import { startController } from './harness';

describe('smoke', () => {
  it('starts, logs in, lists domains', async () => {
    const c = await startController('sqlite');
    try {
      const domains = await c.admin.domains.list();
      expect(domains.items.map((d) => d.name)).toEqual(['default']);
      const created = await c.admin.domains.create({ name: 'app1', kind: 'application' });
      expect(created.id).toBeGreaterThan(0);
    } finally {
      await c.stop();
    }
  });
});
