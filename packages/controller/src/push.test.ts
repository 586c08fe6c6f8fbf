/** PushHub: each event reaches the named nodes' channels (every channel when none is named), once each. */
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics';
import { PushHub } from './push';

describe('PushHub', () => {
  it('writes to the named nodes’ channels only, every channel when none is named, and forgets removed ones', () => {
    const hub = new PushHub(createMetrics());
    const frames = new Map<string, string[]>();
    const open = (name: string, nodeId: number) =>
      hub.add({
        nodeId,
        write: (text) => frames.set(name, [...(frames.get(name) ?? []), text]),
        end: () => frames.set(name, [...(frames.get(name) ?? []), 'end']),
      });
    open('a', 1);
    const removeB = open('b', 2);
    open('b2', 2); // a node with two channels (a reconnect before the old one closed)
    open('c', 3);
    expect(hub.size).toBe(4);
    // A node named twice is written once per channel; an unknown node counts nothing.
    expect(hub.deliver({ kind: 'path-change', nodeIds: [2, 2, 99], payload: { id: 7 } })).toBe(2);
    expect(frames.get('b')).toEqual(['data: {"kind":"path-change","payload":{"id":7}}\n\n']);
    expect(frames.get('b2')).toHaveLength(1);
    expect(frames.has('a') || frames.has('c')).toBe(false);
    expect(hub.deliver({ kind: 'topology', nodeIds: [] })).toBe(0);
    expect(hub.deliver({ kind: 'policy' })).toBe(4);
    removeB();
    removeB(); // twice: no harm
    expect(hub.deliver({ kind: 'revocation', nodeIds: [2] })).toBe(1);
    expect(frames.get('b')).toHaveLength(2);
    expect(hub.size).toBe(3);
    hub.closeAll();
    expect(hub.size).toBe(0);
    expect(hub.deliver({ kind: 'policy', nodeIds: [1] })).toBe(0);
    expect(frames.get('a')?.at(-1)).toBe('end');
  });
});
