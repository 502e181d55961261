/**
 * A simulator of the IBM PAPR Storage Class Memory hypervisor interface.
 *
 * A hypervisor actor owns the SCM in SharedArrayBuffers; each LPAR runs its
 * guest kernel (with the papr_scm driver of one of `KERNEL_VERSIONS`) in its
 * own worker and issues hcalls through an Atomics register channel.
 *
 * @example
 * ```ts
 * import { ManagedSystem } from "./mod.ts";
 * await using system = await ManagedSystem.start({
 *   lpars: [{ name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
 * });
 * const lpar = system.lpar("lpar1");
 * await lpar.boot();
 * await lpar.kexec();                     // nothing unbound: 5.4 queries and reuses
 * console.log((await lpar.dmesg()).join("\n"));
 * ```
 *
 * Run as a program (`deno run mod.ts help`) it is the command line.
 * @module
 */
export * from "./abi/hcalls.ts";
export * from "./abi/health.ts";
export { HypervisorCore, seededEnv } from "./core/hypervisor.ts";
export type * from "./core/types.ts";
export { MAX_LPAR_MAPPINGS } from "./core/state.ts";
export type {
  BindOp,
  DrcCounters,
  DrcState,
  FlushOp,
  PendingOp,
  ScmState,
  UnbindOp,
} from "./core/state.ts";
export { HypervisorFailedError, ManagedSystem } from "./actors/managed_system.ts";
export type {
  BindingView,
  DlparResult,
  HcallTrace,
  StartOptions,
} from "./actors/managed_system.ts";
export { parseRuntime, RUNTIMES } from "./runtime/types.ts";
export { MAX_TRACE_SYSTEMS, TraceSession } from "./trace/session.ts";
export type { SystemTrace, TraceSessionOptions } from "./trace/session.ts";
export type { CounterSample, HcallSpan, OpSpan, SpansTaken } from "./trace/types.ts";
export type { RuntimeKind } from "./runtime/types.ts";
export { call, flatten, runSync } from "./guest/task.ts";
export type {
  CallEffect,
  ComputeEffect,
  Effect,
  FlatTask,
  HcallEffect,
  PlparResult,
  SleepEffect,
  Task,
} from "./guest/task.ts";
export type { DriverOverrides, KernelCosts } from "./guest/kernel.ts";
export { Lpar } from "./actors/lpar.ts";
export type { HcallAnswer, LparBootOptions, LparState, SupervisorAction } from "./actors/lpar.ts";
export {
  ConfigError,
  loadConfigFile,
  MAX_BLOCKS_PER_NVDIMM,
  MAX_LPARS,
  MAX_NVDIMMS_PER_LPAR,
  MAX_NVDIMMS_PER_SYSTEM,
  MAX_RESTARTS,
  PANIC_POLICIES,
  parseConfigText,
  resolveConfig,
} from "./actors/config.ts";
export type {
  FaultsConfig,
  GuestCostsConfig,
  HypervisorCosts,
  HypervisorSettings,
  LparConfig,
  NvdimmConfig,
  PanicAtConfig,
  PanicPolicy,
  ResolvedConfig,
  ResolvedLpar,
  ResolvedNvdimm,
  StorageConfig,
  SupervisionConfig,
  SystemConfig,
} from "./actors/config.ts";
export { formatNdctl, parseNdctlArgs } from "./guest/ndctl.ts";
export type { Json, NdctlListFlags } from "./guest/ndctl.ts";
export { KERNEL_VERSIONS } from "./guest/papr_scm/mod.ts";
export {
  PaprScm513,
  PaprScm514,
  PaprScm518,
  PaprScm519,
  PaprScm519rc1,
  PaprScm52,
  PaprScm53,
  PaprScm54,
  PaprScm55,
  PaprScm57,
  PaprScm58,
  PaprScm59,
  PaprScmMainline,
} from "./guest/papr_scm/mod.ts";
export type { SmartInject } from "./guest/papr_scm/v5_18.ts";
export type {
  KernelServices,
  KernelVersion,
  PaprScmDriverClass,
  PlatformDevice,
} from "./guest/papr_scm/mod.ts";
export type { PerfStat } from "./guest/papr_scm/v_mainline.ts";
export type { KernelState, PanicPoint } from "./guest/kernel.ts";
export type { LabelResult } from "./guest/libnvdimm.ts";
export type {
  DimmHealth,
  LabelOps,
  Libnvdimm,
  Media,
  Namespace,
  Nvdimm,
  NvdimmBus,
  Region,
} from "./guest/libnvdimm.ts";
export { NDCTL_COMMANDS } from "./guest/ndctl_commands.ts";
export type { NdctlOutput } from "./guest/ndctl_commands.ts";
export type { ActiveLabel, ConfigAccess, DimmLabels } from "./guest/labels/ndd.ts";
export type { IndexLayout, NamespaceLabel } from "./guest/labels/format.ts";
export type { PfnInfo } from "./guest/labels/pfn.ts";
export type { DtNode, DtValue } from "./guest/device_tree.ts";
export type { LogLevel } from "./guest/dmesg.ts";
export type { RealMemory } from "./guest/memory.ts";
export type { BootReport, RegionInfo } from "./guest/host.ts";
export { formatKexecStory, runKexecStory } from "./scenarios/kexec.ts";
export type {
  KexecMode,
  KexecStoryOptions,
  KexecStoryReport,
  PatternOutcome,
} from "./scenarios/kexec.ts";
export { formatMatrix, MATRIX_MODES, runMatrix } from "./scenarios/matrix.ts";
export type { Matrix, MatrixOptions, MatrixRow } from "./scenarios/matrix.ts";
export {
  getScenario,
  listScenarios,
  MAX_SCENARIOS,
  registerScenario,
} from "./scenarios/registry.ts";
export type { Scenario, ScenarioOptions, ScenarioOutput } from "./scenarios/registry.ts";
export * from "./scenarios/file.ts";
export * from "./scenarios/run_file.ts";
export * from "./swarm/mod.ts";
export { main as runCli } from "./cli/main.ts";
export { VERSION } from "./cli/help.ts";
export { MemoryStore } from "./storage/memory_store.ts";
export type { DrcImage, StoreImage } from "./storage/memory_store.ts";
export { FileStore } from "./storage/file_store.ts";
export { StorageError, StorageIoError } from "./storage/types.ts";
export type { DrcFacts, DrcGeometry, DurableDrc, DurableStore } from "./storage/types.ts";
export { POWER_LOSS_MODES } from "./storage/power_loss.ts";
export type { PowerLossMode } from "./storage/power_loss.ts";
export { STORAGE_FAULTS } from "./storage/io_fault.ts";
export type { StorageFault } from "./storage/io_fault.ts";
export type { DrcLoss, PersistenceRecorder, PowerLossReport } from "./storage/persistence.ts";
export type { Output } from "./cli/main.ts";
export { DEFAULT_CACHE_LINES } from "./storage/cpu_cache.ts";
export { explore, MAX_EVENTS, replayCommand } from "./crash/explore.ts";
export type {
  CrashContext,
  CrashFailure,
  CrashImage,
  CrashWorkload,
  ExploreOptions,
  ExploreReport,
} from "./crash/explore.ts";
export { BUILTIN_WORKLOADS } from "./crash/workloads.ts";
export { labelsNdctlWorkload } from "./crash/labels_ndctl.ts";

if (import.meta.main) {
  const { run } = await import("./cli/main.ts");
  await run(Deno.args);
  // Every system the command started is stopped by now; exit even if a worker
  // thread is still stuck (a guest blocked in Atomics.wait outlives terminate()).
  Deno.exit();
}
