/** @capsule/wire — codecs for every Capsule byte format. Pure: no I/O, no dependencies. */
export { CapsuleError, isCapsuleError } from './errors';
