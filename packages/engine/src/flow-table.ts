/**
 * The engine's flow table: (source address, destination address, flow label) → flow id, for up to
 * `capacity` live flows, with no allocation per lookup, admission, eviction or removal.
 *
 * Keys are read straight out of the packet buffer (the two 16-byte IPv6 addresses and the 20-bit
 * flow label), so a lookup copies nothing. Flow ids are small stable integers (0 … capacity-1)
 * that index the engine's per-flow arrays; an id stays the same for the life of its flow, and is
 * reused after removal. The index is open addressing with linear probing over twice the capacity
 * in buckets, with backward-shift deletion (no tombstones, so lookups never degrade).
 *
 * Fairness (`admit`): every flow has two owners, its source host (the key's source address) and
 * its authorization (the serial of the AUTH chunk that created it), and each owner holds a count
 * and a list of its flows, oldest first. A new flow is admitted unless:
 *
 * ```
 * its authorization holds perAuthorizationMax flows  → it gives up one of its own flows, else REFUSED_AUTHORIZATION_QUOTA
 * its source host holds perSourceMax flows           → it gives up one of its own flows, else REFUSED_SOURCE_QUOTA
 * the table is full                                  → the source holding the most flows gives one up
 *                                                      (the new flow's own source, when it holds as many),
 *                                                      else REFUSED_FULL
 * ```
 *
 * "Gives up one": the first flow, from the head of that owner's list, idle for at least
 * `evictionIdleMs`; flows seen more recently are moved to the tail (a second chance) and at most
 * EVICTION_SCAN flows are looked at. So a host (or an authorization) that opens flows faster than
 * it uses them churns through its own flows or is refused; it never takes another host's flow
 * while it holds more than that host. The heaviest source is found in O(1): sources are also kept
 * in lists by flow count (the LFU structure), with the highest non-empty count tracked.
 *
 * `lastSeenMs` is the table's array of each flow's last packet time: the engine writes it per
 * packet, the eviction reads it.
 */

const KEY_BYTES = 36;
const EMPTY = -1;
/** Flows an eviction looks at, at most (each one recently seen is moved to its owner's tail). */
export const EVICTION_SCAN = 8;

/** Why `admit` refused a new flow (negative, so never a flow id). */
export const FlowRefusal = {
  /** The table is full and the heaviest source has no flow idle long enough to give up. */
  FULL: -1,
  /** The flow's source host holds its quota of flows and none idle long enough to give up. */
  SOURCE_QUOTA: -2,
  /** The flow's authorization holds its quota of flows and none idle long enough to give up. */
  AUTHORIZATION_QUOTA: -3,
} as const;

/** Limits of one table (plain data; the engine fills them from its options). */
export interface FlowTableOptions {
  /** Flows the table holds at most. */
  capacity: number;
  /** Flows one source host may hold (default: capacity). */
  perSourceMax?: number;
  /** Flows one authorization (serial) may hold (default: capacity). */
  perAuthorizationMax?: number;
  /** A flow with a packet within this long is never evicted (default 0). */
  evictionIdleMs?: number;
}

/** Evictions `admit` made, by cause (monotonic). */
export interface FlowEvictions {
  /** An authorization at its quota gave up one of its own flows. */
  authorizationQuota: number;
  /** A source host at its quota gave up one of its own flows. */
  sourceQuota: number;
  /** The table was full: the heaviest source gave up a flow. */
  tableFull: number;
}

/**
 * Owners (source hosts: 16-byte keys; authorizations: 8-byte serials) → slot, with each slot's
 * flow count and the head and tail of its flow list. Open addressing as the flow index; a slot
 * is released when its count falls to 0.
 */
class OwnerIndex {
  readonly counts: Int32Array;
  readonly heads: Int32Array;
  readonly tails: Int32Array;
  private readonly keyBytes: number;
  private readonly bucketMask: number;
  private readonly buckets: Int32Array;
  private readonly keys: Uint8Array;
  private readonly hashes: Int32Array;
  private readonly freeSlots: Int32Array;
  private freeCount: number;

  constructor(keyBytes: number, slots: number) {
    this.keyBytes = keyBytes;
    let bucketCount = 2;
    while (bucketCount < slots * 2) bucketCount *= 2;
    this.bucketMask = bucketCount - 1;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY);
    this.keys = new Uint8Array(slots * keyBytes);
    this.hashes = new Int32Array(slots);
    this.counts = new Int32Array(slots);
    this.heads = new Int32Array(slots).fill(EMPTY);
    this.tails = new Int32Array(slots).fill(EMPTY);
    this.freeSlots = new Int32Array(slots);
    for (let index = 0; index < slots; index++) this.freeSlots[index] = slots - 1 - index;
    this.freeCount = slots;
  }

  /** The slot of the key at bytes[offset, +keyBytes), or -1. */
  find(bytes: Uint8Array, offset: number): number {
    const hash = hashBytes(bytes, offset, this.keyBytes);
    let bucket = hash & this.bucketMask;
    for (;;) {
      const slot = this.buckets[bucket]!;
      if (slot === EMPTY) return -1;
      if (this.hashes[slot] === hash && this.keyEquals(slot, bytes, offset)) return slot;
      bucket = (bucket + 1) & this.bucketMask;
    }
  }

  /** The slot of the key, added (count 0, empty list) when absent. */
  findOrAdd(bytes: Uint8Array, offset: number): number {
    const found = this.find(bytes, offset);
    if (found >= 0) return found;
    const slot = this.freeSlots[--this.freeCount]!; // slots ≥ live flows + 1: never exhausted
    const hash = hashBytes(bytes, offset, this.keyBytes);
    this.keys.set(bytes.subarray(offset, offset + this.keyBytes), slot * this.keyBytes);
    this.hashes[slot] = hash;
    this.counts[slot] = 0;
    this.heads[slot] = EMPTY;
    this.tails[slot] = EMPTY;
    let bucket = hash & this.bucketMask;
    while (this.buckets[bucket] !== EMPTY) bucket = (bucket + 1) & this.bucketMask;
    this.buckets[bucket] = slot;
    return slot;
  }

  /** Releases a slot whose count is 0 (backward-shift deletion, as in FlowTable.remove). */
  release(slot: number): void {
    let bucket = this.hashes[slot]! & this.bucketMask;
    while (this.buckets[bucket] !== slot) {
      if (this.buckets[bucket] === EMPTY) return;
      bucket = (bucket + 1) & this.bucketMask;
    }
    let hole = bucket;
    let next = (hole + 1) & this.bucketMask;
    for (;;) {
      const candidate = this.buckets[next]!;
      if (candidate === EMPTY) break;
      const home = this.hashes[candidate]! & this.bucketMask;
      if (((next - home) & this.bucketMask) >= ((next - hole) & this.bucketMask)) {
        this.buckets[hole] = candidate;
        hole = next;
      }
      next = (next + 1) & this.bucketMask;
    }
    this.buckets[hole] = EMPTY;
    this.freeSlots[this.freeCount++] = slot;
  }

  private keyEquals(slot: number, bytes: Uint8Array, offset: number): boolean {
    const at = slot * this.keyBytes;
    for (let index = 0; index < this.keyBytes; index++)
      if (this.keys[at + index] !== bytes[offset + index]) return false;
    return true;
  }
}

export class FlowTable {
  /** Flows the table holds at most. */
  readonly capacity: number;
  readonly perSourceMax: number;
  readonly perAuthorizationMax: number;
  readonly evictionIdleMs: number;
  /** flow id → its last packet time (ms); the engine writes it per packet. */
  readonly lastSeenMs: Float64Array;
  /** Evictions by cause. */
  readonly evictions: FlowEvictions = { authorizationQuota: 0, sourceQuota: 0, tableFull: 0 };
  private readonly bucketMask: number;
  /** bucket → flow id, or EMPTY. */
  private readonly buckets: Int32Array;
  /** flow id → its key (36 bytes each). */
  private readonly keys: Uint8Array;
  /** flow id → its hash (to find its home bucket without rehashing). */
  private readonly hashes: Int32Array;
  /** Free flow ids, as a stack. */
  private readonly freeIds: Int32Array;
  private freeCount: number;
  /** Called with a flow id just before `admit` evicts it (the engine clears its per-flow state). */
  private readonly onEvict: (id: number) => void;
  // Owners.
  private readonly sources: OwnerIndex;
  private readonly authorizations: OwnerIndex;
  /** flow id → its owners' slots, and its neighbours in each owner's list. */
  private readonly sourceOf_: Int32Array;
  private readonly authorizationOf: Int32Array;
  private readonly sourcePrev: Int32Array;
  private readonly sourceNext: Int32Array;
  private readonly authorizationPrev: Int32Array;
  private readonly authorizationNext: Int32Array;
  /** Sources by flow count: count → first source slot; each slot's neighbours; the top count. */
  private readonly countHeads: Int32Array;
  private readonly countPrev: Int32Array;
  private readonly countNext: Int32Array;
  private topCount = 0;
  /** An 8-byte serial, big-endian, to key the authorization index without allocating. */
  private readonly serial = new Uint8Array(8);

  constructor(options: number | FlowTableOptions, onEvict: (id: number) => void = () => {}) {
    const settings = typeof options === 'number' ? { capacity: options } : options;
    const capacity = settings.capacity;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new RangeError(`flow table capacity must be an integer in 1 … 2^24, got ${capacity}`);
    }
    const limit = (name: string, value: number | undefined) => {
      const result = value ?? capacity;
      if (!Number.isInteger(result) || result < 1)
        throw new RangeError(`flow table ${name} must be a positive integer, got ${value}`);
      return Math.min(result, capacity);
    };
    this.capacity = capacity;
    this.perSourceMax = limit('perSourceMax', settings.perSourceMax);
    this.perAuthorizationMax = limit('perAuthorizationMax', settings.perAuthorizationMax);
    this.evictionIdleMs = settings.evictionIdleMs ?? 0;
    if (!(this.evictionIdleMs >= 0)) throw new RangeError(`flow table evictionIdleMs must be ≥ 0`);
    this.onEvict = onEvict;
    let bucketCount = 2;
    while (bucketCount < capacity * 2) bucketCount *= 2;
    this.bucketMask = bucketCount - 1;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY);
    this.keys = new Uint8Array(capacity * KEY_BYTES);
    this.hashes = new Int32Array(capacity);
    this.lastSeenMs = new Float64Array(capacity);
    this.freeIds = new Int32Array(capacity);
    for (let index = 0; index < capacity; index++) this.freeIds[index] = capacity - 1 - index;
    this.freeCount = capacity;
    this.sources = new OwnerIndex(16, capacity + 1);
    this.authorizations = new OwnerIndex(8, capacity + 1);
    this.sourceOf_ = new Int32Array(capacity).fill(EMPTY);
    this.authorizationOf = new Int32Array(capacity).fill(EMPTY);
    this.sourcePrev = new Int32Array(capacity);
    this.sourceNext = new Int32Array(capacity);
    this.authorizationPrev = new Int32Array(capacity);
    this.authorizationNext = new Int32Array(capacity);
    this.countHeads = new Int32Array(capacity + 2).fill(EMPTY);
    this.countPrev = new Int32Array(capacity + 1);
    this.countNext = new Int32Array(capacity + 1);
  }

  /** Live flows. */
  get size(): number {
    return this.capacity - this.freeCount;
  }

  /**
   * The flow id of the key made of `bytes[sourceOffset, +16)`, `bytes[destinationOffset, +16)`
   * and `flowLabel`, or -1 when there is none.
   */
  find(bytes: Uint8Array, sourceOffset: number, destinationOffset: number, flowLabel: number): number {
    const hash = hashKey(bytes, sourceOffset, destinationOffset, flowLabel);
    let bucket = hash & this.bucketMask;
    for (;;) {
      const id = this.buckets[bucket]!;
      if (id === EMPTY) return -1;
      if (this.hashes[id] === hash && this.keyEquals(id, bytes, sourceOffset, destinationOffset, flowLabel))
        return id;
      bucket = (bucket + 1) & this.bucketMask;
    }
  }

  /**
   * Adds the key (it must not be present) with no quota and no eviction, owned by authorization
   * serial 0; its new flow id, or -1 when the table is full.
   */
  insert(bytes: Uint8Array, sourceOffset: number, destinationOffset: number, flowLabel: number): number {
    if (this.freeCount === 0) return FlowRefusal.FULL;
    return this.add(bytes, sourceOffset, destinationOffset, flowLabel, 0, 0, 0);
  }

  /**
   * Admits a new flow (the key must not be present) created by the authorization with serial
   * `serialHigh`:`serialLow` at `nowMs`, under the quotas and the eviction rule of the module
   * comment. Its flow id, or a negative FlowRefusal. An evicted flow is handed to `onEvict`, then
   * removed, before the new one takes a free id (often the same).
   */
  admit(
    bytes: Uint8Array,
    sourceOffset: number,
    destinationOffset: number,
    flowLabel: number,
    serialHigh: number,
    serialLow: number,
    nowMs: number,
  ): number {
    const serial = this.serialBytes(serialHigh, serialLow);
    const authorization = this.authorizations.find(serial, 0);
    const source = this.sources.find(bytes, sourceOffset);
    const authorizationCount = authorization < 0 ? 0 : this.authorizations.counts[authorization]!;
    const sourceCount = source < 0 ? 0 : this.sources.counts[source]!;
    let victim = EMPTY;
    if (authorizationCount >= this.perAuthorizationMax) {
      victim = this.idlest(
        this.authorizations,
        authorization,
        this.authorizationPrev,
        this.authorizationNext,
        nowMs,
      );
      if (victim < 0) return FlowRefusal.AUTHORIZATION_QUOTA;
      this.evictions.authorizationQuota++;
    } else if (sourceCount >= this.perSourceMax) {
      victim = this.idlest(this.sources, source, this.sourcePrev, this.sourceNext, nowMs);
      if (victim < 0) return FlowRefusal.SOURCE_QUOTA;
      this.evictions.sourceQuota++;
    } else if (this.freeCount === 0) {
      const heaviest = this.countHeads[this.topCount]!;
      const owner = heaviest !== EMPTY && this.topCount > sourceCount ? heaviest : source;
      victim = owner < 0 ? EMPTY : this.idlest(this.sources, owner, this.sourcePrev, this.sourceNext, nowMs);
      if (victim < 0) return FlowRefusal.FULL;
      this.evictions.tableFull++;
    }
    if (victim >= 0) {
      this.onEvict(victim);
      this.remove(victim);
    }
    return this.add(bytes, sourceOffset, destinationOffset, flowLabel, serialHigh, serialLow, nowMs);
  }

  /**
   * Moves a live flow to another authorization (a type I packet renewed it). It counts against
   * the new one from now on; no quota is applied to a flow that already exists.
   */
  setAuthorization(id: number, serialHigh: number, serialLow: number): void {
    const current = this.authorizationOf[id]!;
    if (current < 0) return;
    const serial = this.serialBytes(serialHigh, serialLow);
    if (this.authorizations.find(serial, 0) === current) return;
    this.unlink(this.authorizations, current, id, this.authorizationPrev, this.authorizationNext);
    if (--this.authorizations.counts[current]! === 0) this.authorizations.release(current);
    const next = this.authorizations.findOrAdd(serial, 0);
    this.append(this.authorizations, next, id, this.authorizationPrev, this.authorizationNext);
    this.authorizations.counts[next]!++;
    this.authorizationOf[id] = next;
  }

  /** Removes a live flow id; its id becomes free for reuse. */
  remove(id: number): void {
    let bucket = this.hashes[id]! & this.bucketMask;
    while (this.buckets[bucket] !== id) {
      if (this.buckets[bucket] === EMPTY) return; // not live: nothing to do
      bucket = (bucket + 1) & this.bucketMask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole when their home
    // bucket lies at or before it (cyclically), so no probe sequence is ever broken.
    let hole = bucket;
    let next = (hole + 1) & this.bucketMask;
    for (;;) {
      const candidate = this.buckets[next]!;
      if (candidate === EMPTY) break;
      const home = this.hashes[candidate]! & this.bucketMask;
      const distanceFromHome = (next - home) & this.bucketMask;
      const distanceToHole = (next - hole) & this.bucketMask;
      if (distanceFromHome >= distanceToHole) {
        this.buckets[hole] = candidate;
        hole = next;
      }
      next = (next + 1) & this.bucketMask;
    }
    this.buckets[hole] = EMPTY;
    this.freeIds[this.freeCount++] = id;
    // Owners: out of both lists, counts down, slots released at 0.
    const source = this.sourceOf_[id]!;
    this.unlink(this.sources, source, id, this.sourcePrev, this.sourceNext);
    this.setSourceCount(source, this.sources.counts[source]! - 1);
    if (this.sources.counts[source] === 0) this.sources.release(source);
    const authorization = this.authorizationOf[id]!;
    this.unlink(this.authorizations, authorization, id, this.authorizationPrev, this.authorizationNext);
    if (--this.authorizations.counts[authorization]! === 0) this.authorizations.release(authorization);
    this.sourceOf_[id] = EMPTY;
    this.authorizationOf[id] = EMPTY;
  }

  /** Live flows of the source host whose address is bytes[offset, +16). */
  flowsOfSource(bytes: Uint8Array, offset: number): number {
    const slot = this.sources.find(bytes, offset);
    return slot < 0 ? 0 : this.sources.counts[slot]!;
  }

  /** Live flows created under the authorization with this serial. */
  flowsOfAuthorization(serialHigh: number, serialLow: number): number {
    const slot = this.authorizations.find(this.serialBytes(serialHigh, serialLow), 0);
    return slot < 0 ? 0 : this.authorizations.counts[slot]!;
  }

  /** The most flows any one source host holds. */
  get heaviestSourceFlows(): number {
    return this.topCount;
  }

  /** The source address of a live flow, as a view into the table (valid until the flow is removed). */
  sourceOf(id: number): Uint8Array {
    return this.keys.subarray(id * KEY_BYTES, id * KEY_BYTES + 16);
  }

  /** The destination address of a live flow, as a view. */
  destinationOf(id: number): Uint8Array {
    return this.keys.subarray(id * KEY_BYTES + 16, id * KEY_BYTES + 32);
  }

  /** The flow label of a live flow. */
  flowLabelOf(id: number): number {
    const offset = id * KEY_BYTES + 32;
    return (
      ((this.keys[offset]! << 24) |
        (this.keys[offset + 1]! << 16) |
        (this.keys[offset + 2]! << 8) |
        this.keys[offset + 3]!) >>>
      0
    );
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** Adds the key as a new flow (a free id exists) under its two owners. */
  private add(
    bytes: Uint8Array,
    sourceOffset: number,
    destinationOffset: number,
    flowLabel: number,
    serialHigh: number,
    serialLow: number,
    nowMs: number,
  ): number {
    const id = this.freeIds[--this.freeCount]!;
    const hash = hashKey(bytes, sourceOffset, destinationOffset, flowLabel);
    const keyOffset = id * KEY_BYTES;
    this.keys.set(bytes.subarray(sourceOffset, sourceOffset + 16), keyOffset);
    this.keys.set(bytes.subarray(destinationOffset, destinationOffset + 16), keyOffset + 16);
    this.keys[keyOffset + 32] = flowLabel >>> 24;
    this.keys[keyOffset + 33] = (flowLabel >>> 16) & 0xff;
    this.keys[keyOffset + 34] = (flowLabel >>> 8) & 0xff;
    this.keys[keyOffset + 35] = flowLabel & 0xff;
    this.hashes[id] = hash;
    let bucket = hash & this.bucketMask;
    while (this.buckets[bucket] !== EMPTY) bucket = (bucket + 1) & this.bucketMask;
    this.buckets[bucket] = id;
    this.lastSeenMs[id] = nowMs;
    const source = this.sources.findOrAdd(bytes, sourceOffset);
    this.append(this.sources, source, id, this.sourcePrev, this.sourceNext);
    this.setSourceCount(source, this.sources.counts[source]! + 1);
    this.sourceOf_[id] = source;
    const authorization = this.authorizations.findOrAdd(this.serialBytes(serialHigh, serialLow), 0);
    this.append(this.authorizations, authorization, id, this.authorizationPrev, this.authorizationNext);
    this.authorizations.counts[authorization]!++;
    this.authorizationOf[id] = authorization;
    return id;
  }

  /**
   * The first flow of `owner`'s list idle for evictionIdleMs, moving each more recently seen one
   * to the tail; -1 when none among the first EVICTION_SCAN.
   */
  private idlest(
    owners: OwnerIndex,
    owner: number,
    prev: Int32Array,
    next: Int32Array,
    nowMs: number,
  ): number {
    const steps = Math.min(EVICTION_SCAN, owners.counts[owner]!);
    for (let step = 0; step < steps; step++) {
      const id = owners.heads[owner]!;
      if (nowMs - this.lastSeenMs[id]! >= this.evictionIdleMs) return id;
      if (owners.tails[owner] === id) break; // a list of one: nothing to rotate
      this.unlink(owners, owner, id, prev, next);
      this.append(owners, owner, id, prev, next);
    }
    return EMPTY;
  }

  private append(owners: OwnerIndex, owner: number, id: number, prev: Int32Array, next: Int32Array): void {
    const tail = owners.tails[owner]!;
    prev[id] = tail;
    next[id] = EMPTY;
    if (tail === EMPTY) owners.heads[owner] = id;
    else next[tail] = id;
    owners.tails[owner] = id;
  }

  private unlink(owners: OwnerIndex, owner: number, id: number, prev: Int32Array, next: Int32Array): void {
    const before = prev[id]!;
    const after = next[id]!;
    if (before === EMPTY) owners.heads[owner] = after;
    else next[before] = after;
    if (after === EMPTY) owners.tails[owner] = before;
    else prev[after] = before;
  }

  /** Sets a source's count and moves it between the by-count lists (counts change by one). */
  private setSourceCount(slot: number, count: number): void {
    const old = this.sources.counts[slot]!;
    if (old > 0) {
      const before = this.countPrev[slot]!;
      const after = this.countNext[slot]!;
      if (before === EMPTY) this.countHeads[old] = after;
      else this.countNext[before] = after;
      if (after !== EMPTY) this.countPrev[after] = before;
    }
    this.sources.counts[slot] = count;
    if (count > 0) {
      const head = this.countHeads[count]!;
      this.countPrev[slot] = EMPTY;
      this.countNext[slot] = head;
      if (head !== EMPTY) this.countPrev[head] = slot;
      this.countHeads[count] = slot;
    }
    if (count > this.topCount) this.topCount = count;
    while (this.topCount > 0 && this.countHeads[this.topCount] === EMPTY) this.topCount--;
  }

  private serialBytes(high: number, low: number): Uint8Array {
    const serial = this.serial;
    serial[0] = high >>> 24;
    serial[1] = (high >>> 16) & 0xff;
    serial[2] = (high >>> 8) & 0xff;
    serial[3] = high & 0xff;
    serial[4] = low >>> 24;
    serial[5] = (low >>> 16) & 0xff;
    serial[6] = (low >>> 8) & 0xff;
    serial[7] = low & 0xff;
    return serial;
  }

  private keyEquals(
    id: number,
    bytes: Uint8Array,
    sourceOffset: number,
    destinationOffset: number,
    flowLabel: number,
  ): boolean {
    const keys = this.keys;
    const keyOffset = id * KEY_BYTES;
    for (let index = 0; index < 16; index++) {
      if (keys[keyOffset + index] !== bytes[sourceOffset + index]) return false;
      if (keys[keyOffset + 16 + index] !== bytes[destinationOffset + index]) return false;
    }
    return this.flowLabelOf(id) === flowLabel >>> 0;
  }
}

/** A 32-bit hash of the key (FNV-1a over the bytes, then a murmur3 finaliser for the low bits). */
function hashKey(
  bytes: Uint8Array,
  sourceOffset: number,
  destinationOffset: number,
  flowLabel: number,
): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < 16; index++) hash = Math.imul(hash ^ bytes[sourceOffset + index]!, 0x01000193);
  for (let index = 0; index < 16; index++)
    hash = Math.imul(hash ^ bytes[destinationOffset + index]!, 0x01000193);
  hash = Math.imul(hash ^ flowLabel, 0x01000193);
  return finalise(hash);
}

/** The same hash over `length` bytes (owner keys). */
function hashBytes(bytes: Uint8Array, offset: number, length: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < length; index++) hash = Math.imul(hash ^ bytes[offset + index]!, 0x01000193);
  return finalise(hash);
}

function finalise(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash | 0;
}
