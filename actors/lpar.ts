/**
 * The managed system's handle on one LPAR: its worker, its channel words
 * (panic, stop) and its life cycle.
 * @module
 */
import * as Comlink from "comlink";
import { opByName, opName, rcName } from "../abi/hcalls.ts";
import { PANIC, RESP, STOP } from "../channel/layout.ts";
import { buildDeviceTree } from "../guest/device_tree.ts";
import type { BootReport, GuestHost, RegionInfo } from "../guest/host.ts";
import type { LabelResult } from "../guest/libnvdimm.ts";
import type { PerfStat } from "../guest/papr_scm/v_mainline.ts";
import type { PanicPoint } from "../guest/kernel.ts";
import type { Json, NdctlListFlags } from "../guest/ndctl.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";
import type { ResolvedLpar } from "./config.ts";

/** Options for boot, kexec and reboot. */
export interface LparBootOptions {
  /** Kernel version to run (default: the LPAR's configured kernel). */
  kernel?: KernelVersion;
  /** Load the papr_scm driver (default: as configured). */
  paprScm?: boolean;
  /** Panic at a chosen hcall, e.g. `{ hcall: "H_SCM_BIND_MEM", nth: 2 }`. */
  panicAt?: PanicPoint;
}

/** What a raw hcall returned, with names. */
export interface HcallAnswer {
  rc: number;
  /** Name of the return code, e.g. `H_OVERLAP`. */
  rcName: string;
  /** r4..r12. */
  rets: bigint[];
}

/** Where an LPAR is in its life. */
export type LparState = "not activated" | "running" | "panicked" | "halted" | "shut down";

/** One LPAR of a managed system. */
export class Lpar {
  /** Hypervisor-side LPAR id. */
  readonly id: number;
  readonly config: ResolvedLpar;
  /** Kernel version running now (or last). */
  kernel: KernelVersion;
  state: LparState = "not activated";
  readonly #worker: Worker;
  readonly #guest: Comlink.Remote<GuestHost>;
  readonly #header: Int32Array;
  readonly #release: () => Promise<number>;

  /** @internal Created by ManagedSystem. */
  constructor(
    id: number,
    config: ResolvedLpar,
    worker: Worker,
    channel: SharedArrayBuffer,
    release: () => Promise<number>,
  ) {
    this.id = id;
    this.config = config;
    this.kernel = config.kernel;
    this.#worker = worker;
    this.#guest = Comlink.wrap<GuestHost>(worker);
    this.#header = new Int32Array(channel);
    this.#release = release;
  }

  /** The partition's name. */
  get name(): string {
    return this.config.name;
  }

  /** @internal The worker's control plane. */
  get guest(): Comlink.Remote<GuestHost> {
    return this.#guest;
  }

  #deviceTree() {
    return buildDeviceTree(this.config.nvdimms.map((n) => ({
      drcIndex: n.drc,
      blockSize: n.blockSize,
      blocks: n.blocks,
      metadataSize: n.metadataSize,
      uuid: n.uuid,
      hcallFlushRequired: n.hcallFlushRequired,
      persistenceFailedCount: n.persistenceFailedCount,
    })));
  }

  #track(report: BootReport): BootReport {
    this.kernel = report.version;
    this.state = report.state === "booting" ? "running" : report.state;
    return report;
  }

  #bootOptions(options: LparBootOptions, kdump = false) {
    return {
      version: options.kernel ?? this.kernel,
      deviceTree: this.#deviceTree(),
      paprScm: options.paprScm ?? this.config.paprScm,
      panicAt: options.panicAt,
      kdump,
    };
  }

  /** Activates the partition: boots its kernel, which probes its nvdimms. */
  async boot(options: LparBootOptions = {}): Promise<BootReport> {
    if (this.state === "running") throw new Error(`LPAR ${this.name} is already running`);
    return this.#track(await this.#guest.boot(this.#bootOptions(options)));
  }

  /**
   * kexec: the running (or panicked) kernel stops without unbinding anything
   * and a new kernel starts in the same partition. After a panic this is kdump.
   */
  async kexec(options: LparBootOptions = {}): Promise<BootReport> {
    if (this.state !== "running" && this.state !== "panicked") {
      throw new Error(
        `LPAR ${this.name} is ${this.state}; kexec needs a running or panicked kernel`,
      );
    }
    const kdump = this.state === "panicked";
    return this.#track(await this.#guest.boot(this.#bootOptions(options, kdump)));
  }

  /**
   * Panics the kernel at once: a kernel busy in hcalls (mid-bind too) panics
   * at its next hcall; an idle one right away.
   */
  async panic(reason?: string): Promise<void> {
    Atomics.store(this.#header, PANIC, 1);
    const state = await this.#guest.panic(reason);
    if (state === "panicked") this.state = "panicked";
  }

  /** Clean reboot: the driver unbinds its regions, then the kernel boots again. */
  async reboot(options: LparBootOptions = {}): Promise<BootReport> {
    return this.#track(await this.#guest.reboot(this.#bootOptions(options)));
  }

  /** Shutdown: the kernel stops; the hypervisor releases every binding of the LPAR. */
  async shutdown(): Promise<number> {
    await this.#guest.shutdown();
    this.state = "shut down";
    return await this.#release();
  }

  /** The current kernel's log. */
  dmesg(options: { debug?: boolean } = {}): Promise<string[]> {
    return this.#guest.dmesg(options.debug ?? false);
  }

  /** `ndctl list` as text (default `-R`). */
  ndctl(flags: NdctlListFlags = { regions: true }): Promise<string> {
    return this.#guest.ndctl(flags);
  }

  /** `ndctl list` as data (default `-R`). */
  ndctlJson(flags: NdctlListFlags = { regions: true }): Promise<Json> {
    return this.#guest.ndctlJson(flags);
  }

  /** The regions of the running kernel. */
  regions(): Promise<RegionInfo[]> {
    return this.#guest.regions();
  }

  /** Reads `length` bytes at `offset` of a region (`"region0"` or a DRC index), by DAX. */
  read(region: string | number, offset: number, length: number): Promise<Uint8Array> {
    return this.#guest.read(region, offset, length);
  }

  /** Writes bytes at `offset` of a region, by DAX. */
  write(region: string | number, offset: number, data: Uint8Array): Promise<void> {
    return this.#guest.write(region, offset, data);
  }

  /**
   * Reads `length` bytes of a dimm's label area through the running driver
   * (READ_METADATA hcalls). `dimm` is `"nmem0"`, `"region0"` or a DRC index.
   * A failure is returned, not thrown: `{ rc: -22, error: "EINVAL" }`.
   */
  readLabel(dimm: string | number, offset: number, length: number): Promise<LabelResult> {
    return this.#guest.readLabel(dimm, offset, length);
  }

  /** Writes bytes into a dimm's label area (WRITE_METADATA); a failure is returned. */
  writeLabel(dimm: string | number, offset: number, data: Uint8Array): Promise<LabelResult> {
    return this.#guest.writeLabel(dimm, offset, data);
  }

  /** Reads a dimm's `papr/<attribute>` sysfs file, e.g. `flags` or `perf_stats`. */
  papr(dimm: string | number, attribute: string): Promise<string> {
    return this.#guest.papr(dimm, attribute);
  }

  /** The dimm's performance statistics (mainline driver: H_SCM_PERFORMANCE_STATS). */
  perfStats(dimm: string | number): Promise<PerfStat[]> {
    return this.#guest.perfStats(dimm);
  }

  /**
   * Flushes a region as `nvdimm_flush` does. With `ibm,hcall-flush-required`
   * the driver loops on H_SCM_FLUSH (sleeping on long busy) and this gives
   * its final return code name, e.g. `H_SUCCESS`; `none` when no hcall is needed.
   */
  flush(region: string | number): Promise<string> {
    return this.#guest.flush(region);
  }

  /**
   * Issues one hcall from inside this LPAR through the real channel.
   * @example
   * ```ts
   * const { rcName } = await lpar.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", 0x44100002n, 0n);
   * ```
   */
  async hcall(opcode: number | string, ...args: Array<bigint | number>): Promise<HcallAnswer> {
    const op = typeof opcode === "string" ? opByName(opcode) : opcode;
    if (op === undefined) throw new RangeError(`unknown hcall ${JSON.stringify(opcode)}`);
    const regs = args.map((a) => BigInt.asUintN(64, BigInt(a)));
    const { rc, rets } = await this.#guest.hcall(op, regs);
    return { rc, rcName: rcName(rc), rets };
  }

  /** @internal Stops the worker: stop word, wake it, then terminate. */
  stop(): void {
    Atomics.store(this.#header, STOP, 1);
    Atomics.notify(this.#header, RESP);
    this.#guest[Comlink.releaseProxy]();
    this.#worker.terminate();
  }
}

export { opName };
