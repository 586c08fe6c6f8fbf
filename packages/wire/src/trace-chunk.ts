/**
 * The TRACE chunk value (capsule chunk type 5): one record appended by each engine while the
 * capsule header's TRACE flag is set.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Engine Id           |      Time (µs, high 16)  …    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  … Time (low 16)              |      Fuel Used (high 16) …    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  … Fuel Used (low 16)         |    Verdict    |    Reason     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * 12 bytes a record, at most 256 bytes (21 records). Time: the engine's clock in microseconds
 * modulo 2^32 when it handled the packet. Verdict and reason codes are the engine's.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { type DecodeError, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Largest TRACE chunk value, in bytes. */
export const TRACE_CHUNK_LIMIT = 256;
/** Bytes per trace record. */
export const TRACE_RECORD_LENGTH = 12;

/** One engine's trace record. */
export interface TraceRecord {
  readonly engineId: number;
  /** µs modulo 2^32. */
  readonly timeUs: number;
  readonly fuelUsed: number;
  readonly verdict: number;
  readonly reason: number;
}

/** Writes one record at into[offset] (the engine appends in place); returns 12. */
export function encodeTraceRecord(record: TraceRecord, into: Uint8Array, offset = 0): number {
  ensureUint(record.engineId, 16, 'TRACE engineId');
  ensureUint(record.timeUs, 32, 'TRACE timeUs');
  ensureUint(record.fuelUsed, 32, 'TRACE fuelUsed');
  ensureUint(record.verdict, 8, 'TRACE verdict');
  ensureUint(record.reason, 8, 'TRACE reason');
  ensureRoom(into, offset, TRACE_RECORD_LENGTH, 'TRACE record');
  writeU16(into, offset, record.engineId);
  writeU32(into, offset + 2, record.timeUs);
  writeU32(into, offset + 6, record.fuelUsed);
  into[offset + 10] = record.verdict;
  into[offset + 11] = record.reason;
  return TRACE_RECORD_LENGTH;
}

/** Writes the TRACE value (all records) at into[offset]; returns its length. */
export function encodeTraceChunk(records: readonly TraceRecord[], into: Uint8Array, offset = 0): number {
  const length = records.length * TRACE_RECORD_LENGTH;
  if (length > TRACE_CHUNK_LIMIT)
    throw new WireError('WIRE_LIMIT_EXCEEDED', `TRACE chunk of ${length} bytes > ${TRACE_CHUNK_LIMIT}`);
  ensureRoom(into, offset, length, 'TRACE chunk');
  for (let i = 0; i < records.length; i++)
    encodeTraceRecord(records[i]!, into, offset + i * TRACE_RECORD_LENGTH);
  return length;
}

/** Checks a TRACE value length without allocating (undefined when valid). */
export function checkTraceChunk(length: number): DecodeError | undefined {
  if (length > TRACE_CHUNK_LIMIT)
    return {
      code: 'LIMIT_EXCEEDED',
      message: `TRACE chunk of ${length} bytes > ${TRACE_CHUNK_LIMIT}`,
      offset: 0,
    };
  if (length % TRACE_RECORD_LENGTH !== 0)
    return { code: 'BAD_LENGTH', message: `TRACE chunk of ${length} bytes is not whole records`, offset: 0 };
  return undefined;
}

/** Decodes a TRACE value occupying all of `bytes`. */
export function decodeTraceChunk(bytes: Uint8Array): DecodeResult<readonly TraceRecord[]> {
  const problem = checkTraceChunk(bytes.length);
  if (problem) return decodeFailure(problem.code, problem.message, problem.offset);
  const records: TraceRecord[] = [];
  for (let at = 0; at < bytes.length; at += TRACE_RECORD_LENGTH)
    records.push({
      engineId: readU16(bytes, at),
      timeUs: readU32(bytes, at + 2),
      fuelUsed: readU32(bytes, at + 6),
      verdict: bytes[at + 10]!,
      reason: bytes[at + 11]!,
    });
  return decoded(records);
}
