/** @capsule/lab — a Capsule topology on one machine: network namespaces (root) or one process (MemoryNetwork). */

/** In-process applications' IPv6/UDP packets. */
export { buildUdp6, parseUdp6 } from './app-packets';
/** The controller bootstrap every lab does (domains, zone, node users) and the names it uses. */
export { adminClient, bootstrapController, labNames, pinnedFetch, registeredNodes } from './bootstrap';
/** The lab's errors and their codes. */
export { LabError, type LabErrorCode } from './errors';
/** The state file: what a lab made, so that `down` works from any process. */
export {
  type LabState,
  type NodeRecord,
  type ProcessRecord,
  readLabState,
  stateFilePath,
  writeLabState,
} from './lab-state';
/** `lab status`: the state file checked against processes and the controller. */
export { type LabStatus, labStatus, type NodeStatus } from './lab-status';
/** The in-process lab (no root): controller, engines and agents on the MemoryNetwork; app sockets. */
export {
  type AppSocket,
  type MemoryEngine,
  type MemoryHost,
  type MemoryLab,
  type MemoryLabDeps,
  type MemoryLabOptions,
  startMemoryLab,
} from './memory-lab';
/** iproute2 helpers: names derived from lab and node, namespaces, links. */
export {
  bridgeName,
  ip,
  labSocketBufferBytes,
  linkExists,
  listNamespaces,
  namespaceName,
  setLinkUp,
  vethName,
} from './netns';
/** The netns lab: build, start daemons, exec in a node, tear down, leftovers check. */
export {
  agentConfig,
  agentSocketPath,
  canBuildNamespaces,
  controllerCertificatePin,
  controllerUrls,
  engineConfig,
  labDown,
  labExec,
  labPorts,
  leftoversOf,
  type NetnsLabOptions,
  netnsLabAddEngine,
  netnsLabUp,
  type TeardownReport,
} from './netns-lab';
/** The use cases on an up netns lab with real applications (ping, python3 UDP) in the hosts' namespaces. */
export {
  connectNetnsLab,
  contractRoleAddress,
  type NetnsUseCaseLab,
  runNetnsUseCase,
  runNetnsUseCases,
} from './netns-use-cases';
/** A microprogram source → the controller's template image. */
export { compileTemplateImage } from './program-image';
/** The process supervisor: detached start with a log file, readiness, SIGTERM then SIGKILL. */
export { isAlive, isRunning, logTail, startProcess, stopProcesses, waitUntilReady } from './supervisor';
/** The topology file: format, validation, address assignment, the embedded default. */
export {
  defaultTopologyYaml,
  engineLinks,
  type NodeKind,
  parseTopology,
  type Topology,
  type TopologyLink,
  type TopologyNode,
  validateTopology,
} from './topology';
/** Use cases (examples/use-cases): load, apply (template compiled from its program), run on an in-process lab. */
export {
  applyUseCase,
  listUseCases,
  loadUseCase,
  runUseCase,
  type StepResult,
  type UseCase,
  type UseCaseResult,
  type UseCaseStep,
} from './use-cases';
