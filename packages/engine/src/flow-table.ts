/**
 * The engine's flow table: (source address, destination address, flow label) → flow id, for up to
 * `capacity` live flows, with no allocation per lookup, insert or removal.
 *
 * Keys are read straight out of the packet buffer (the two 16-byte IPv6 addresses and the 20-bit
 * flow label), so a lookup copies nothing. Flow ids are small stable integers (0 … capacity-1)
 * that index the engine's per-flow arrays; an id stays the same for the life of its flow, and is
 * reused after removal. The index is open addressing with linear probing over twice the capacity
 * in buckets, with backward-shift deletion (no tombstones, so lookups never degrade).
 */

const KEY_BYTES = 36;
const EMPTY = -1;

export class FlowTable {
  /** Flows the table holds at most. */
  readonly capacity: number;
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

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new RangeError(`flow table capacity must be an integer in 1 … 2^24, got ${capacity}`);
    }
    this.capacity = capacity;
    let bucketCount = 2;
    while (bucketCount < capacity * 2) bucketCount *= 2;
    this.bucketMask = bucketCount - 1;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY);
    this.keys = new Uint8Array(capacity * KEY_BYTES);
    this.hashes = new Int32Array(capacity);
    this.freeIds = new Int32Array(capacity);
    for (let index = 0; index < capacity; index++) this.freeIds[index] = capacity - 1 - index;
    this.freeCount = capacity;
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

  /** Adds the key and returns its new flow id; -1 when the table is full. The key must not be present. */
  insert(bytes: Uint8Array, sourceOffset: number, destinationOffset: number, flowLabel: number): number {
    if (this.freeCount === 0) return -1;
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
    return id;
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
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash | 0;
}
