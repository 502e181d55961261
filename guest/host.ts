/**
 * Everything that lives in one partition: the DAX view of its SCM, its real
 * memory and the kernel running now. Its methods are the LPAR's control
 * plane (boot, kexec, inspect). Those that run kernel code return a
 * {@link Task}: the runtime runs it (the worker runtime by blocking on the
 * Atomics channel, the simulation under its scheduler), so this file is the
 * same in both.
 * @module
 */
import { ChannelStopped } from "../channel/guest_port.ts";
import type { DaxAccess } from "../core/dax.ts";
import type { DtNode } from "./device_tree.ts";
import {
  type DriverOverrides,
  GuestKernel,
  type KernelCosts,
  KernelPanic,
  type KernelState,
  type PanicPoint,
} from "./kernel.ts";
import { sysfsRead } from "./sysfs.ts";
import { formatNdctl, type Json, ndctlList, type NdctlListFlags } from "./ndctl.ts";
import { type NdctlOutput, ndctlRun, uuidFromSeed } from "./ndctl_commands.ts";
import { ERRNO, type LabelResult, type Nvdimm } from "./libnvdimm.ts";
import { type KernelVersion, PaprScm518, PaprScm59, parseKernelVersion } from "./papr_scm/mod.ts";
import type { PerfStat } from "./papr_scm/v5_9.ts";
import type { SmartInject } from "./papr_scm/v5_18.ts";
import { rcName } from "../abi/hcalls.ts";
import { hcall, type Task } from "./task.ts";
import { BoundedLog } from "../runtime/trace_buffer.ts";
import { MAX_TRACE_OPS } from "../trace/types.ts";

/** What a partition is given by its runtime. */
export interface GuestPlatform {
  /** The partition's name (for messages). */
  name: string;
  /** Its loads and stores to SCM, which the hypervisor translates and checks. */
  dax: DaxAccess;
  /** The partition's real memory, shared with the hypervisor (optional). */
  realMemory?: ArrayBufferLike;
  /** The machine's clock in ns. */
  clock(): number;
  /** The trace clock in ns, when a trace is recorded: probes are then recorded on it. */
  traceClock?(): number;
  /** True when the machine asked the running kernel to panic (cleared by reading). */
  takePanicRequest(): boolean;
  /** What the kernel's own work costs. */
  costs?: Partial<KernelCosts>;
  /** Driver classes to use instead of the real ones (tests of the tester only). */
  drivers?: DriverOverrides;
}

/** Options for boot and kexec. */
export interface BootOptions {
  version: KernelVersion;
  deviceTree: DtNode;
  paprScm?: boolean;
  panicAt?: PanicPoint;
  kdump?: boolean;
}

/** One papr_scm probe, for a trace: its DRC, when (trace clock, ns), and its result. */
export interface ProbeRecord {
  drc: number;
  start: number;
  end: number;
  /** 0 or -errno; undefined when the probe did not return (a panic). */
  rc?: number;
}

/** What a boot (or kexec, or reboot) ended in. */
export interface BootReport {
  /** State of the new kernel when the boot returned (`running` or `panicked`, say). */
  state: KernelState;
  /** Version of the new kernel. */
  version: KernelVersion;
  /** The new kernel's log. */
  dmesg: string[];
}

/** A region as the host reports it. */
export interface RegionInfo {
  /** Device name, e.g. `region0`. */
  dev: string;
  /** DRC index of the nvdimm behind it. */
  drc: number;
  /** Start address in the LPAR's logical address space. */
  start: bigint;
  /** Bytes. */
  size: bigint;
  /** Read-only: its dimm was unarmed at probe (papr_scm from 5.13). */
  readOnly: boolean;
}

/** The result of a raw hcall. */
export interface RawHcallResult {
  rc: number;
  rets: bigint[];
}

/** Panics an idle kernel (the panic's unwinding has nothing to unwind). */
function panicNow(kernel: GuestKernel, reason: string): void {
  try {
    kernel.panic(reason);
  } catch (error) {
    if (!(error instanceof KernelPanic)) throw error;
  }
}

/** One partition's guest state and control plane. */
export class GuestHost {
  readonly #platform: GuestPlatform;
  readonly #dax: DaxAccess;
  #kernel?: GuestKernel;
  /** A kernel acted on the panic request; the panic() call that follows has nothing to do. */
  #panicServed = false;
  /** Probes recorded for a trace (when the platform has a trace clock). */
  readonly #probes = new BoundedLog<ProbeRecord>(MAX_TRACE_OPS);
  /** uuids ndctl generated in this partition (seeds the next one). */
  #uuids = 0;

  /** A partition with no kernel yet. */
  constructor(platform: GuestPlatform) {
    this.#platform = platform;
    this.#dax = platform.dax;
    if (platform.traceClock) this.#probes.start();
  }

  /** The probes recorded for a trace since the last call (none when no trace is recorded). */
  probeRecords(): { probes: ProbeRecord[]; dropped: number } {
    const { items, dropped } = this.#probes.take();
    if (this.#platform.traceClock) this.#probes.start();
    return { probes: items, dropped };
  }

  /** A trace's probe hook for a new kernel, when a trace is recorded. */
  #traceProbe(): ((drc: number) => (rc: number | undefined) => void) | undefined {
    const clock = this.#platform.traceClock;
    if (!clock) return undefined;
    return (drc) => {
      const start = clock();
      return (rc) => this.#probes.push({ drc, start, end: clock(), rc });
    };
  }

  /** Boots a kernel (the previous one, if any, must be halted or panicked). */
  *boot(options: BootOptions): Task<BootReport> {
    // Made first, so bad options are refused before the running kernel is touched.
    const kernel = this.#newKernel(options);
    // kexec -e from a running kernel goes through kernel_restart_prepare(), so
    // device_shutdown() runs first (a crashed kernel's kdump skips it).
    const old = this.#kernel;
    if (old?.state === "running") {
      yield* this.#run(this.#deviceShutdown(old));
      // kernel/kexec_core.c, kernel_kexec(), just before machine_shutdown().
      old.log("notice", "kexec_core: Starting new kernel");
    }
    old?.halt();
    this.#kernel = kernel;
    yield* this.#run(kernel.boot());
    return this.report();
  }

  /** A kernel for `options`; throws (a RangeError naming what is accepted) on bad ones. */
  #newKernel(options: BootOptions): GuestKernel {
    const platform = this.#platform;
    return new GuestKernel({
      version: parseKernelVersion(options.version),
      deviceTree: options.deviceTree,
      paprScm: options.paprScm,
      panicAt: options.panicAt,
      kdump: options.kdump,
      realMemory: platform.realMemory,
      clock: platform.clock,
      panicRequested: () => {
        // A request a kernel acts on is served: a panic() queued behind it must not panic
        // the next kernel too (a panic during a reboot panics one kernel, not two).
        const asked = platform.takePanicRequest();
        if (asked) this.#panicServed = true;
        return asked;
      },
      costs: platform.costs,
      drivers: platform.drivers,
      traceProbe: this.#traceProbe(),
      media: {
        read: (addr, length) => this.#dax.read(addr, length),
        write: (addr, bytes) => this.#dax.write(addr, bytes),
        writeBack: (addr, length) => void this.#dax.writeBack?.(addr, length),
      },
    });
  }

  /** DLPAR add: the running kernel probes a new `ibm,pmemory` node (0 or -errno). */
  *hotplugAdd(node: DtNode): Task<{ rc: number; state: KernelState | "none" }> {
    const kernel = this.#kernel;
    if (!kernel || kernel.state !== "running") return { rc: -19, state: kernel?.state ?? "none" };
    const rc = yield* this.#run(kernel.hotplugAdd(node));
    return { rc: rc ?? -19, state: kernel.state };
  }

  /**
   * DLPAR remove: the running kernel's driver releases the DRC. `ignore`
   * (a fault) makes the kernel ignore the request. True when a driver let go.
   */
  *hotplugRemove(
    drc: number,
    ignore = false,
  ): Task<{ removed: boolean; state: KernelState | "none"; why?: string }> {
    const kernel = this.#kernel;
    if (!kernel || kernel.state !== "running") {
      return { removed: false, state: kernel?.state ?? "none", why: "the kernel is not running" };
    }
    if (ignore) {
      return { removed: false, state: kernel.state, why: "the kernel ignored the request" };
    }
    const removed = (yield* this.#run(kernel.hotplugRemove(drc))) ?? false;
    const why = removed ? undefined : (kernel.state as KernelState) === "panicked" // it may have panicked in the remove
      ? "the kernel panicked while its driver let go"
      : "no driver was bound to it (its probe had failed)";
    return { removed, state: kernel.state, why };
  }

  /** A sysfs path of the running kernel: a listing or a file's text. */
  sysfs(path?: string): Task<string> {
    return sysfsRead(this.#needKernel().libnvdimm, path);
  }

  /**
   * Stops the kernel as `kernel_restart`/`kernel_power_off` do: through
   * `device_shutdown()`, which never calls a driver's `.remove`, so papr_scm
   * unbinds nothing (its `papr_scm_driver` has only `.probe` and `.remove`;
   * arch/powerpc/platforms/pseries/papr_scm.c). The firmware releases the
   * partition's bindings when it restarts or powers off the partition.
   */
  *shutdown(kind: "power-off" | "restart" = "power-off"): Task<void> {
    const kernel = this.#kernel;
    // A panic asked while the kernel was on its way down lands on it (sysrq), once.
    if (kernel?.state === "running" && this.#platform.takePanicRequest()) {
      this.#panicServed = true;
      panicNow(kernel, "sysrq triggered crash");
    }
    if (kernel?.state === "running") yield* this.#run(this.#deviceShutdown(kernel));
    kernel?.log("info", kind === "restart" ? "reboot: Restarting system" : "reboot: Power down");
    kernel?.halt();
  }

  /**
   * `device_shutdown()`: papr_scm has no `.shutdown`, but the pmem driver's
   * (`nd_pmem_shutdown`, drivers/nvdimm/pmem.c) flushes the region of each
   * active namespace with `nvdimm_flush`, which is H_SCM_FLUSH for a region
   * that needs it (papr_scm from 5.13). Every region here has its namespace
   * enabled (the label-less raw one, or one from the labels).
   */
  *#deviceShutdown(kernel: GuestKernel): Task<void> {
    for (const region of kernel.libnvdimm.regions) {
      if (region.flush) yield* region.flush();
    }
  }

  /** Panics the running kernel now (if a panic request did not already). */
  panic(reason = "sysrq triggered crash"): KernelState | "none" {
    const kernel = this.#kernel;
    this.#platform.takePanicRequest();
    if (this.#panicServed) {
      // The request was served by the kernel that was busy when it came.
      this.#panicServed = false;
      return kernel?.state ?? "none";
    }
    if (kernel && kernel.state === "running") panicNow(kernel, reason);
    return kernel?.state ?? "none";
  }

  /** The current kernel's state and log. */
  report(): BootReport {
    const kernel = this.#needKernel();
    return { state: kernel.state, version: kernel.version, dmesg: kernel.dmesg.lines() };
  }

  /** The kernel log (with debug lines when asked). */
  dmesg(includeDebug = false): string[] {
    return this.#kernel?.dmesg.lines(includeDebug) ?? [];
  }

  /** `ndctl list` output, as text. */
  *ndctl(flags: NdctlListFlags): Task<string> {
    return formatNdctl(yield* this.ndctlJson(flags));
  }

  /** `ndctl list` output, as data. */
  ndctlJson(flags: NdctlListFlags): Task<Json> {
    const kernel = this.#needKernel();
    // Health and flags are read from the driver, which issues hcalls.
    if (kernel.state !== "running") return ndctlList(kernel.libnvdimm, flags);
    return this.#inKernel(ndctlList(kernel.libnvdimm, flags));
  }

  /**
   * Runs an ndctl command line in the partition (`["create-namespace", "-s",
   * "1G"]`, `["list", "-Nu"]`, ...): what it printed and its status. Label
   * reads and writes issue the driver's metadata hcalls.
   */
  ndctlRun(args: string[]): Task<NdctlOutput> {
    const kernel = this.#needKernel();
    const newUuid = () =>
      uuidFromSeed(`${this.#platform.name}/${this.#platform.clock()}/${++this.#uuids}`);
    return this.#inKernel(ndctlRun({ lib: kernel.libnvdimm, newUuid }, args));
  }

  /** The regions the running kernel registered. */
  regions(): RegionInfo[] {
    return (this.#kernel?.libnvdimm.regions ?? []).map((r) => ({
      dev: r.dev,
      drc: r.dimm.drcIndex,
      start: r.start,
      size: r.size,
      readOnly: r.readOnly === true,
    }));
  }

  /** Reads bytes of a region through DAX. */
  read(region: string | number, offset: number, length: number): Uint8Array {
    const r = this.#region(region, offset, length);
    return this.#dax.read(r.start + BigInt(offset), length);
  }

  /** Writes bytes into a region through DAX; a read-only region (unarmed dimm) refuses. */
  write(region: string | number, offset: number, bytes: Uint8Array): void {
    const r = this.#region(region, offset, bytes.length);
    if (r.readOnly) {
      throw new Error(
        `${r.dev} is read-only (EROFS): its dimm ${r.dimm.dev} is not armed (NDD_UNARMED)`,
      );
    }
    this.#dax.write(r.start + BigInt(offset), bytes);
  }

  /**
   * Reads the label area of a dimm (`nmemN`, `regionN` or DRC index) as
   * libnvdimm does: commands of at most `max_xfer` bytes, each split by the
   * driver into hcalls. Errors come back as a negative errno, not thrown.
   */
  readLabel(key: string | number, offset: number, length: number): Task<LabelResult> {
    const { kernel, dimm } = this.#dimm(key);
    return this.#inKernel(kernel.libnvdimm.getConfigData(dimm, offset, length));
  }

  /** Writes the label area of a dimm; errors come back as a negative errno. */
  writeLabel(key: string | number, offset: number, data: Uint8Array): Task<LabelResult> {
    const { kernel, dimm } = this.#dimm(key);
    return this.#inKernel(kernel.libnvdimm.setConfigData(dimm, offset, data));
  }

  /** Reads a dimm's `papr/<attribute>` sysfs file; throws when it is absent or fails. */
  papr(key: string | number, attribute: string): Task<string> {
    const { dimm } = this.#dimm(key);
    const show = dimm.papr[attribute];
    if (!show) {
      const names = Object.keys(dimm.papr).join(", ") || "none";
      throw new RangeError(`${dimm.dev} has no papr/${attribute}; it has: ${names}`);
    }
    return this.#inKernel(show());
  }

  /** The dimm's performance statistics as the mainline driver reads them. */
  *perfStats(key: string | number): Task<PerfStat[]> {
    const { kernel, dimm } = this.#dimm(key);
    const driver = kernel.driverFor(dimm.drcIndex);
    if (!(driver instanceof PaprScm59)) {
      throw new RangeError(`the ${kernel.version} driver does not read performance statistics`);
    }
    const stats = yield* this.#inKernel(driver.readStats());
    if (typeof stats === "number") {
      const errno = ERRNO[-stats] ?? String(-stats);
      throw new Error(`reading the performance statistics of ${dimm.dev} failed: -${errno}`);
    }
    return stats;
  }

  /**
   * PAPR_PDSM_SMART_INJECT (papr_scm from 5.18): sets or clears the injected
   * HEALTH_FATAL and SHUTDOWN_DIRTY bits of a dimm; gives the flags served.
   */
  smartInject(key: string | number, request: SmartInject): SmartInject {
    const { kernel, dimm } = this.#dimm(key);
    const driver = kernel.driverFor(dimm.drcIndex);
    if (!(driver instanceof PaprScm518)) {
      throw new RangeError(
        `the ${kernel.version} driver has no PAPR_PDSM_SMART_INJECT (papr_scm has it from 5.18)`,
      );
    }
    return driver.smartInject(request);
  }

  /**
   * Flushes a region as the kernel's pmem flush does: the cache write-back of
   * its stores (durable then, unless the device needs the flush hcall), then
   * `nvdimm_flush`: the driver's H_SCM_FLUSH loop for a region that needs
   * it, giving its final return code name; `none` when the region has no
   * provider flush (no hcall is made).
   */
  *flush(key: string | number): Task<string> {
    const r = this.#region(key, 0, 0);
    // The cache write-back of the range comes first (the pmem flush); then the provider's.
    this.#dax.writeBack?.(r.start, Number(r.size));
    const flush = r.flush;
    if (!flush) return "none";
    return rcName(yield* this.#inKernel(flush()));
  }

  #dimm(key: string | number): { kernel: GuestKernel; dimm: Nvdimm } {
    const kernel = this.#needKernel();
    const dimm = kernel.libnvdimm.findDimm(key);
    if (!dimm) {
      const names = kernel.libnvdimm.dimms.map((d) => d.dev).join(", ") || "none";
      throw new RangeError(`no dimm ${JSON.stringify(key)}; this kernel has: ${names}`);
    }
    return { kernel, dimm };
  }

  /** Runs kernel code that issues hcalls; a panic or a stop there is reported, not leaked. */
  *#inKernel<T>(step: Task<T>): Task<T> {
    const kernel = this.#needKernel();
    if (kernel.state !== "running") throw new Error(`the kernel is ${kernel.state}`);
    try {
      return yield* step;
    } catch (error) {
      if (error instanceof ChannelStopped) kernel.halt();
      if (error instanceof KernelPanic) throw new Error(`kernel panicked: ${error.message}`);
      throw error;
    }
  }

  /** Issues one hcall by hand (through the real channel, in the worker runtime). */
  hcall(opcode: number, args: bigint[]): Task<RawHcallResult> {
    return hcall(opcode, ...args);
  }

  #region(key: string | number, offset: number, length: number) {
    const kernel = this.#needKernel();
    const region = kernel.libnvdimm.findRegion(key);
    if (!region) {
      const names = kernel.libnvdimm.regions.map((r) => r.dev).join(", ") || "none";
      throw new RangeError(`no region ${JSON.stringify(key)}; this kernel has: ${names}`);
    }
    if (offset < 0 || length < 0 || BigInt(offset + length) > region.size) {
      throw new RangeError(`${offset}+${length} is outside ${region.dev} (${region.size} bytes)`);
    }
    return region;
  }

  /** Runs kernel code; undefined when it panicked or the machine stopped under it. */
  *#run<T>(step: Task<T>): Task<T | undefined> {
    try {
      return yield* step;
    } catch (error) {
      // A panic unwinds the kernel and leaves it panicked; a stopped channel
      // means the machine is going away. Anything else is a simulator bug.
      if (error instanceof KernelPanic) return undefined;
      if (error instanceof ChannelStopped) {
        this.#kernel?.halt();
        return undefined;
      }
      throw error;
    }
  }

  #needKernel(): GuestKernel {
    if (!this.#kernel) throw new Error(`LPAR ${this.#platform.name} has not booted`);
    return this.#kernel;
  }
}
