/**
 * Engine ids: the 16-bit names PATH hops and TRACE records use for engines. By default an engine's
 * id is the last 16 bits of its CGA host id, so every node (agent building a PATH chunk from the
 * controller's host-id path, engine reading its ENGINE record) computes the same id without a
 * lookup. A collision between two engines of one path is possible (2^-16 per pair); an engine's
 * config may set its id explicitly.
 */
export function engineIdOfHostId(hostId: Uint8Array): number {
  return ((hostId[14]! << 8) | hostId[15]!) >>> 0;
}
