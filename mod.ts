/**
 * A simulator of the IBM PAPR Storage Class Memory hypervisor interface.
 *
 * A hypervisor actor owns the SCM in SharedArrayBuffers; each LPAR runs its
 * guest kernel (with the papr_scm driver of Linux 5.2, 5.3 or 5.4) in its own
 * worker and issues hcalls through an Atomics register channel.
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
export { ManagedSystem } from "./actors/managed_system.ts";
export type { BindingView, HcallTrace } from "./actors/managed_system.ts";
export { Lpar } from "./actors/lpar.ts";
export type { HcallAnswer, LparBootOptions, LparState } from "./actors/lpar.ts";
export { ConfigError, resolveConfig } from "./actors/config.ts";
export type { LparConfig, NvdimmConfig, SystemConfig } from "./actors/config.ts";
export { KERNEL_VERSIONS } from "./guest/papr_scm/mod.ts";
export type { KernelVersion } from "./guest/papr_scm/mod.ts";
export type { BootReport, RegionInfo } from "./guest/host.ts";
export { formatKexecStory, runKexecStory } from "./scenarios/kexec.ts";
export type { KexecStoryOptions, KexecStoryReport } from "./scenarios/kexec.ts";
export { main as runCli } from "./cli/main.ts";

if (import.meta.main) {
  const { run } = await import("./cli/main.ts");
  await run(Deno.args);
}
