/**
 * Engine ids: the 16-bit names PATH hops and TRACE records use for engines — by default the last
 * 16 bits of the engine's CGA host id. The one definition lives in @capsule/wire (agents use it to
 * build PATH chunks from the controller's host-id paths); the engine re-exports it.
 */
export { engineIdOfHostId } from '@capsule/wire';
