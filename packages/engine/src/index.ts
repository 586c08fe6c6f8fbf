/** @capsule/engine — the network microservice engine. */
/** Zero-allocation flow table keyed by (source, destination, flow label). */
export { FlowTable } from './flow-table';
