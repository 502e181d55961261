/**
 * The managed system's handle on one LPAR: its life cycle, supervision and
 * control plane, the same on every runtime (the runtime's partition handle
 * carries the calls).
 * @module
 */
import { opByName, opName, rcName, unknownHcall } from "../abi/hcalls.ts";
import { buildDeviceTree, type DtNode, pmemNode } from "../guest/device_tree.ts";
import type { BootReport, RegionInfo } from "../guest/host.ts";
import type { LabelResult } from "../guest/libnvdimm.ts";
import type { PerfStat } from "../guest/papr_scm/v5_9.ts";
import type { SmartInject } from "../guest/papr_scm/v5_18.ts";
import type { PanicPoint } from "../guest/kernel.ts";
import type { Json, NdctlListFlags } from "../guest/ndctl.ts";
import type { NdctlOutput } from "../guest/ndctl_commands.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";
import type { GuestControl, PartitionHandle } from "../runtime/types.ts";
import { parseKernelVersion } from "../guest/papr_scm/mod.ts";
import { resolvePanicAt } from "./config.ts";

/** Most life-cycle operations that may wait for one LPAR. */
export const MAX_PENDING_OPERATIONS = 1024;
import { CallGate } from "./call_gate.ts";
import {
  checkBytes,
  checkCount,
  checkFlags,
  checkKey,
  checkRegisters,
  checkString,
} from "./args.ts";

/** `ndctl list` flags the API takes. */
const NDCTL_FLAGS = [
  "regions",
  "dimms",
  "health",
  "namespaces",
  "buses",
  "idle",
  "human",
  "mediaErrors",
  "firmware",
];

/**
 * `ndctl list` with no kind of object named lists namespaces, as ndctl
 * does (pmem/ndctl Documentation/ndctl/ndctl-list.txt: "ndctl list" with no
 * options is "ndctl list --namespaces"), so `lpar.ndctl()` and `show ndctl` agree.
 */
function ndctlKinds(flags: NdctlListFlags): NdctlListFlags {
  const named = flags.regions || flags.dimms || flags.health || flags.namespaces;
  return named ? flags : { ...flags, namespaces: true };
}

/** Runs the checks, then the call: a bad argument is a rejected promise, nothing is done. */
function checked<T>(check: () => void, call: () => Promise<T>): Promise<T> {
  try {
    check();
  } catch (error) {
    return Promise.reject(error);
  }
  return call();
}
import type { ResolvedLpar, ResolvedNvdimm, SupervisionConfig } from "./config.ts";

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
  /** Return code (r3). */
  rc: number;
  /** Name of the return code, e.g. `H_OVERLAP`. */
  rcName: string;
  /** r4..r12. */
  rets: bigint[];
}

/** Where an LPAR is in its life. */
export type LparState =
  | "not activated"
  | "running"
  | "panicked"
  | "halted"
  | "shut down"
  | "crashed";

/** What an LPAR needs from its managed system. */
export interface LparHooks {
  /** Partition shutdown at the hypervisor: releases every binding; the count. */
  release(): Promise<number>;
  /** Records a line in the system's event log. */
  event(text: string): void;
  /** The partition's runtime died: drop it and release everything it held; the count. */
  detach(): Promise<number>;
  /** A fresh partition (a new worker) for this LPAR, its nvdimms attached. */
  restart(): Promise<PartitionHandle>;
  /** The machine's clock in ns (virtual on the `sim` runtime). */
  clock(): number;
  /** Runs a life-cycle operation, recording it on a trace when one is on. */
  op?<T>(name: string, run: () => Promise<T>): Promise<T>;
}

/** What a supervisor did after a panic. */
export interface SupervisorAction {
  /** The LPAR's configured policy on panic. */
  policy: SupervisionConfig["onPanic"];
  /** `kdump`, `reboot`, or `stay-down` (by policy or because the budget is spent). */
  action: "kdump" | "reboot" | "stay-down";
  /** Why, as logged. */
  message: string;
}

function nodeSpec(n: ResolvedNvdimm) {
  return {
    drcIndex: n.drc,
    blockSize: n.blockSize,
    blocks: n.blocks,
    metadataSize: n.metadataSize,
    uuid: n.uuid,
    hcallFlushRequired: n.hcallFlushRequired,
    persistenceFailedCount: n.persistenceFailedCount,
  };
}

/**
 * What the managed system does to an LPAR and its users do not: serialise a
 * DLPAR operation with the life cycle, hot-plug, note a crash, stop. Kept off
 * the `Lpar` class (and out of `mod.ts`) so the public API shows none of it.
 */
export interface LparControl {
  /** The runtime's handle on the partition. */
  readonly partition: PartitionHandle;
  /** Runs `operation` when the LPAR's earlier life-cycle operations are done (see boot). */
  exclusive<T>(operation: () => Promise<T>): Promise<T>;
  /**
   * The partition's runtime died (a worker's uncaught error): its calls fail
   * with `error`, the hypervisor releases everything it held, and the LPAR
   * reads `crashed` until it is shut down or activated again.
   */
  crashed(error: Error): Promise<void>;
  /** DLPAR add, guest side: node added, probed if running. */
  hotplugAdd(nvdimm: ResolvedNvdimm): Promise<{ node: DtNode; rc: number | undefined }>;
  /** DLPAR remove, guest side: asks the driver to let go; why not, if it did not. */
  hotplugRemove(drc: number): Promise<{ removed: boolean; why?: string }>;
  /** After a DLPAR operation: a kernel that panicked during it is supervised now. */
  afterDlpar(): Promise<void>;
  /** DLPAR remove, after the hypervisor took the DRC: forget it here. */
  forget(drc: number): Promise<void>;
  /** Stops the partition: pending and later calls fail with `reason`. */
  stop(reason?: Error): void;
}

let construct: (
  id: number,
  config: ResolvedLpar,
  partition: PartitionHandle,
  hooks: LparHooks,
) => Lpar;
let controlOf: (lpar: Lpar) => LparControl;

/** Makes an LPAR (the managed system does, once per configured LPAR). */
export function createLpar(
  id: number,
  config: ResolvedLpar,
  partition: PartitionHandle,
  hooks: LparHooks,
): Lpar {
  return construct(id, config, partition, hooks);
}

/** The managed system's side of an LPAR. */
export function lparControl(lpar: Lpar): LparControl {
  return controlOf(lpar);
}

/** One LPAR of a managed system (`system.lpar(name)` gives one). */
export class Lpar {
  /** Hypervisor-side LPAR id. */
  readonly id: number;
  /** The LPAR's configuration, defaults filled in. */
  readonly config: ResolvedLpar;
  /** Kernel version running now (or last). */
  kernel: KernelVersion;
  /** Where the LPAR is in its life. */
  state: LparState = "not activated";
  /** What the supervisor did after each panic, oldest first. */
  readonly supervisorActions: SupervisorAction[] = [];
  #partition: PartitionHandle;
  #guest: GuestControl;
  readonly #hooks: LparHooks;
  readonly #nvdimms: ResolvedNvdimm[];
  #calls = new CallGate();
  #stoppedBy?: Error;
  #restarts: number[] = [];
  #serial: Promise<void> = Promise.resolve();
  /** Why the partition's runtime died, until a new one replaces it. */
  #dead?: Error;
  #waiting = 0;
  #supervising = false;
  /** Fault: the kernel ignores DLPAR remove requests (config `faults.ignoreDlparRemove`). */
  ignoreDlparRemove: boolean;

  static {
    construct = (id, config, partition, hooks) => new Lpar(id, config, partition, hooks);
    controlOf = (lpar) => lpar.#control;
  }

  /** Made by the managed system (createLpar). */
  private constructor(
    id: number,
    config: ResolvedLpar,
    partition: PartitionHandle,
    hooks: LparHooks,
  ) {
    this.id = id;
    this.config = config;
    this.kernel = config.kernel;
    this.#nvdimms = [...config.nvdimms];
    this.ignoreDlparRemove = config.faults.ignoreDlparRemove === true;
    this.#partition = partition;
    this.#guest = partition.guest;
    this.#hooks = hooks;
  }

  /** The nvdimms assigned to this LPAR now (configured, plus DLPAR changes). */
  get nvdimms(): readonly ResolvedNvdimm[] {
    return this.#nvdimms;
  }

  /**
   * A control-plane call that fails instead of hanging when the LPAR's
   * worker is stopped (system stop, hypervisor failure).
   */
  #call<T>(call: () => Promise<T>): Promise<T> {
    if (this.#stoppedBy) return Promise.reject(this.#stoppedBy);
    return this.#calls.run(call);
  }

  /** The partition's name. */
  get name(): string {
    return this.config.name;
  }

  /** The managed system's side of this LPAR (lparControl). */
  readonly #control: LparControl = (() => {
    // deno-lint-ignore no-this-alias
    const lpar = this;
    return {
      get partition() {
        return lpar.#partition;
      },
      exclusive: (operation) => lpar.#exclusive(operation),
      crashed: (error) => lpar.#crashed(error),
      hotplugAdd: (nvdimm) => lpar.#hotplugAdd(nvdimm),
      hotplugRemove: (drc) => lpar.#hotplugRemove(drc),
      afterDlpar: () => lpar.#supervise(),
      forget: (drc) => lpar.#forget(drc),
      stop: (reason) => lpar.#stop(reason),
    };
  })();

  #deviceTree() {
    return buildDeviceTree(this.#nvdimms.map(nodeSpec));
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

  /** Checks boot options before anything is done, naming what is accepted. */
  #checkBootOptions(options: LparBootOptions): void {
    const o = options as Record<string, unknown>;
    if (typeof o !== "object" || o === null || Array.isArray(o)) {
      throw new RangeError(`boot options: expected an object such as { kernel: "5.4" }`);
    }
    for (const key of Object.keys(o)) {
      if (!["kernel", "paprScm", "panicAt"].includes(key)) {
        throw new RangeError(
          `boot options: unknown key "${key}"; accepted: kernel, paprScm, panicAt`,
        );
      }
    }
    if (options.kernel !== undefined) parseKernelVersion(options.kernel);
    if (options.paprScm !== undefined && typeof options.paprScm !== "boolean") {
      throw new RangeError(
        `boot options: paprScm ${JSON.stringify(options.paprScm)}: expected true or false`,
      );
    }
    if (options.panicAt !== undefined) {
      try {
        resolvePanicAt("panicAt", options.panicAt);
      } catch (error) {
        throw new RangeError(`boot options: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Runs one life-cycle operation of this LPAR at a time, in the order asked:
   * a kexec asked during a reboot starts when the reboot is done, never in
   * the middle of it. At most MAX_PENDING_OPERATIONS wait. Also held by the
   * managed system across a DLPAR operation.
   */
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#waiting >= MAX_PENDING_OPERATIONS) {
      return Promise.reject(
        new RangeError(
          `LPAR ${this.name}: ${MAX_PENDING_OPERATIONS} operations are already waiting; wait for some`,
        ),
      );
    }
    this.#waiting++;
    const run = this.#serial.then(() => {
      this.#waiting--;
      return operation();
    });
    this.#serial = run.then(() => {}, () => {});
    return run;
  }

  /**
   * Activates the partition: boots its kernel, which probes its nvdimms.
   * A configured `faults.panicAt` applies unless `options.panicAt` is given.
   * If the kernel panics, the supervision policy runs before this returns;
   * the report is that of the kernel this call booted.
   */
  boot(options: LparBootOptions = {}): Promise<BootReport> {
    return this.#exclusive(() => this.#op("boot", () => this.#boot(options)));
  }

  /** Runs a life-cycle operation, as a slice on the trace when one is recorded. */
  #op<T>(name: string, run: () => Promise<T>): Promise<T> {
    return this.#hooks.op ? this.#hooks.op(name, run) : run();
  }

  async #boot(options: LparBootOptions): Promise<BootReport> {
    this.#checkBootOptions(options);
    if (this.state === "running") throw new Error(`LPAR ${this.name} is already running`);
    await this.#reviveIfCrashed();
    const panicAt = options.panicAt ?? this.config.faults.panicAt;
    const report = this.#track(
      await this.#call(() => this.#guest.boot(this.#bootOptions({ ...options, panicAt }))),
    );
    await this.#supervise();
    return report;
  }

  /**
   * kexec: the running (or panicked) kernel stops without unbinding anything
   * and a new kernel starts in the same partition. After a panic this is kdump.
   */
  kexec(options: LparBootOptions = {}): Promise<BootReport> {
    return this.#exclusive(() =>
      this.#op(this.state === "panicked" ? "kdump" : "kexec", () => this.#kexec(options))
    );
  }

  async #kexec(options: LparBootOptions): Promise<BootReport> {
    this.#checkBootOptions(options);
    if (this.state !== "running" && this.state !== "panicked") {
      throw new Error(
        `LPAR ${this.name} is ${this.state}; kexec needs a running or panicked kernel`,
      );
    }
    const kdump = this.state === "panicked";
    const report = this.#track(
      await this.#call(() => this.#guest.boot(this.#bootOptions(options, kdump))),
    );
    await this.#supervise();
    return report;
  }

  /**
   * Panics the kernel at once: a kernel busy in hcalls (mid-bind too) panics
   * at its next hcall; an idle one right away.
   */
  panic(reason?: string): Promise<void> {
    if (reason !== undefined && typeof reason !== "string") {
      return Promise.reject(
        new RangeError(`panic reason: expected a string, got ${typeof reason}`),
      );
    }
    // At once: a kernel busy in an operation panics at its next hcall ...
    this.#partition.requestPanic();
    // ... and the rest waits its turn (an idle kernel panics then, a served request is done).
    return this.#exclusive(() =>
      this.#op("panic", async () => {
        const state = await this.#call(() => this.#guest.panic(reason));
        if (state === "panicked") this.state = "panicked";
        await this.#supervise();
      })
    );
  }

  /**
   * Reboot, as on PowerVM: the kernel stops through `device_shutdown()`,
   * which calls no driver's `.remove`, so papr_scm unbinds nothing; the
   * firmware's partition restart (RTAS system-reboot) releases the LPAR's
   * bindings; the kernel boots and binds afresh. A panicked or halted kernel
   * gets the same partition restart. (Only kexec and kdump leave bindings
   * behind: why only they met H_OVERLAP in 2019.)
   */
  reboot(options: LparBootOptions = {}): Promise<BootReport> {
    return this.#exclusive(() => this.#op("reboot", () => this.#reboot(options)));
  }

  async #reboot(options: LparBootOptions): Promise<BootReport> {
    this.#checkBootOptions(options);
    // As on PowerVM: the kernel stops (no driver remove, no unbind), the firmware's
    // partition restart releases the bindings, and the new kernel binds afresh.
    await this.#partitionStop("restart");
    const report = this.#track(
      await this.#call(() => this.#guest.boot(this.#bootOptions(options))),
    );
    await this.#supervise();
    return report;
  }

  /** Shutdown: the kernel stops; the hypervisor releases every binding of the LPAR. */
  shutdown(): Promise<number> {
    return this.#exclusive(() =>
      this.#op("shutdown", async () => {
        // A crashed partition has no kernel to stop: the hypervisor already released it.
        if (!this.#dead) await this.#call(() => this.#guest.shutdown());
        this.state = "shut down";
        return await this.#hooks.release();
      })
    );
  }

  /**
   * Runs the supervision policy while the kernel is panicked: `kdump`
   * kexecs a kdump kernel, `reboot` restarts the partition (the hypervisor
   * releases its bindings, then the configured kernel boots), `stay-down`
   * leaves it. More than `maxRestarts` restarts within `windowSeconds`
   * and it stays down, saying so in the system's events.
   */
  async #supervise(): Promise<void> {
    if (this.#supervising) return;
    this.#supervising = true;
    try {
      while (this.state === "panicked") {
        const { onPanic, maxRestarts, windowSeconds } = this.config.supervision;
        const now = this.#hooks.clock();
        this.#restarts = this.#restarts.filter((t) => now - t < windowSeconds * 1e9);
        let action: SupervisorAction["action"] = onPanic;
        let message: string;
        if (onPanic === "stay-down") {
          message = `${this.name}: kernel panicked; policy stay-down: the LPAR stays down`;
        } else if (this.#restarts.length >= maxRestarts) {
          action = "stay-down";
          message = `${this.name}: kernel panicked; restart budget spent ` +
            `(${this.#restarts.length} restarts in the last ${windowSeconds} s, at most ` +
            `${maxRestarts}): the LPAR stays down`;
        } else {
          this.#restarts.push(now);
          message = `${this.name}: kernel panicked; policy ${onPanic}: ` +
            (onPanic === "kdump" ? "kexec of a kdump kernel" : "partition restart") +
            ` (restart ${this.#restarts.length} of at most ${maxRestarts} in ${windowSeconds} s)`;
        }
        this.supervisorActions.push({ policy: onPanic, action, message });
        this.#hooks.event(message);
        if (action === "stay-down") return;
        if (action === "kdump") {
          await this.#op("kdump (supervisor)", async () => {
            this.#track(await this.#call(() => this.#guest.boot(this.#bootOptions({}, true))));
          });
        } else {
          await this.#op("reboot (supervisor)", async () => {
            await this.#partitionStop();
            const panicAt = this.config.faults.panicAt;
            this.#track(await this.#call(() => this.#guest.boot(this.#bootOptions({ panicAt }))));
          });
        }
      }
    } finally {
      this.#supervising = false;
    }
  }

  /** A partition restart's first half: the kernel stops, the hypervisor releases its bindings. */
  async #partitionStop(kind: "power-off" | "restart" = "restart"): Promise<number> {
    if (this.#dead) return await this.#reviveIfCrashed();
    await this.#call(() => this.#guest.shutdown(kind));
    return await this.#hooks.release();
  }

  /** See LparControl.crashed. */
  async #crashed(error: Error): Promise<void> {
    if (this.#stoppedBy || this.#dead) return;
    this.#dead = error;
    this.state = "crashed";
    this.#calls.fail(error);
    this.#partition.stop(error);
    let released: number;
    try {
      released = await this.#hooks.detach();
    } catch (failure) {
      // The system stopped (or its hypervisor failed) meanwhile: nothing is left to release,
      // and nobody waits on this (it runs from the worker's death, not from a caller).
      this.#hooks.event(
        `${this.name}: its partition crashed (${error.message}); not released: ` +
          `${(failure as Error).message}`,
      );
      return;
    }
    this.#hooks.event(
      `${this.name}: its partition crashed (${error.message}); the hypervisor released ` +
        `${released} blocks; shut it down or activate it again`,
    );
  }

  /** Activation after a crash: a fresh partition (a new worker) takes the dead one's place. */
  async #reviveIfCrashed(): Promise<number> {
    if (!this.#dead) return 0;
    const partition = await this.#hooks.restart();
    this.#partition = partition;
    this.#guest = partition.guest;
    this.#calls = new CallGate();
    this.#dead = undefined;
    return 0;
  }

  /** The current kernel's log. */
  dmesg(options: { debug?: boolean } = {}): Promise<string[]> {
    return checked(
      () => checkFlags("dmesg options", options, ["debug"]),
      () => this.#call(() => this.#guest.dmesg(options.debug ?? false)),
    );
  }

  /**
   * `ndctl list` as text. With no kind named (`{}`, the default) it lists
   * namespaces, as `ndctl list` and `show ndctl` do; `{ regions: true }` is `-R`.
   * @example
   * ```ts
   * console.log(await lpar.ndctl({ regions: true, dimms: true, health: true }));
   * ```
   */
  ndctl(flags: NdctlListFlags = {}): Promise<string> {
    return checked(
      () => checkFlags("ndctl flags", flags, NDCTL_FLAGS),
      () => this.#call(() => this.#guest.ndctl(ndctlKinds(flags))),
    );
  }

  /** `ndctl list` as data; no kind named (the default) lists namespaces, as ndctl does. */
  ndctlJson(flags: NdctlListFlags = {}): Promise<Json> {
    return checked(
      () => checkFlags("ndctl flags", flags, NDCTL_FLAGS),
      () => this.#call<Json>(() => this.#guest.ndctlJson(ndctlKinds(flags))),
    );
  }

  /**
   * Runs an ndctl command line in the LPAR as a user types it (`list -Nu`,
   * `init-labels nmem0`, `create-namespace -s 1G -m raw`, `read-labels -j
   * nmem0`, `destroy-namespace -f namespace0.0`, ...): what ndctl printed on
   * stdout and stderr and its status (0 or a negative errno). Bad options
   * are refused with a RangeError naming what is accepted.
   * @example
   * ```ts
   * const created = await lpar.ndctlRun(["create-namespace", "--size", "1G"]);
   * console.log(created.stdout); // {"dev":"namespace0.0","mode":"fsdax",...}
   * ```
   */
  ndctlRun(args: string[]): Promise<NdctlOutput> {
    return checked(() => {
      if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
        throw new RangeError(`ndctlRun: expected an array of strings, e.g. ["list", "-N"]`);
      }
      if (args.length > 64) throw new RangeError(`ndctlRun: ${args.length} arguments; at most 64`);
    }, () => this.#call(() => this.#guest.ndctlRun([...args])));
  }

  /**
   * A sysfs-like view of the running kernel's nvdimm devices: with no path
   * (or a directory) the entries, one per line (directories end in `/`);
   * with a file's path, its text. Paths are absolute or relative to
   * `/sys/bus/nd/devices`.
   * @example
   * ```ts
   * console.log(await lpar.sysfs("region0/resource")); // 0x...
   * console.log(await lpar.sysfs("/sys/bus/nd/devices/nmem0/papr/flags"));
   * ```
   */
  sysfs(path?: string): Promise<string> {
    return checked(
      () => path === undefined || checkString("sysfs path", path),
      () => this.#call(() => this.#guest.sysfs(path)),
    );
  }

  /** The regions of the running kernel. */
  regions(): Promise<RegionInfo[]> {
    return this.#call(() => this.#guest.regions());
  }

  /** Reads `length` bytes at `offset` of a region (`"region0"` or a DRC index), by DAX. */
  read(region: string | number, offset: number, length: number): Promise<Uint8Array> {
    return checked(() => {
      checkKey("read: region", region, "region0");
      checkCount("read: offset", offset);
      checkCount("read: length", length);
    }, () => this.#call(() => this.#guest.read(region, offset, length)));
  }

  /** Writes bytes at `offset` of a region, by DAX. */
  write(region: string | number, offset: number, data: Uint8Array): Promise<void> {
    return checked(() => {
      checkKey("write: region", region, "region0");
      checkCount("write: offset", offset);
      checkBytes("write: data", data);
    }, () => this.#call(() => this.#guest.write(region, offset, data)));
  }

  /** DLPAR add, guest side: node added, probed if running. */
  async #hotplugAdd(nvdimm: ResolvedNvdimm): Promise<{ node: DtNode; rc: number | undefined }> {
    this.#nvdimms.push(nvdimm);
    const node = pmemNode(nodeSpec(nvdimm));
    if (this.state !== "running") return { node, rc: undefined };
    const { rc, state } = await this.#call(() => this.#guest.hotplugAdd(node));
    if (state === "panicked") {
      this.state = "panicked";
      await this.#supervise();
    }
    return { node, rc };
  }

  /** DLPAR remove, guest side: asks the driver to let go; why not, if it did not. */
  async #hotplugRemove(drc: number): Promise<{ removed: boolean; why?: string }> {
    if (this.state !== "running") return { removed: false, why: `the LPAR is ${this.state}` };
    const { removed, state, why } = await this.#call(() =>
      this.#guest.hotplugRemove(drc, this.ignoreDlparRemove)
    );
    // A panic in the driver's remove: supervision runs once the DRC is gone (afterDlpar).
    if (state === "panicked") this.state = "panicked";
    return { removed, why };
  }

  /**
   * DLPAR remove, after the hypervisor took the DRC: forget it here (the guest
   * never held its memory: its accesses now fault in the hypervisor).
   */
  #forget(drc: number): Promise<void> {
    const i = this.#nvdimms.findIndex((n) => n.drc === drc);
    if (i >= 0) this.#nvdimms.splice(i, 1);
    return Promise.resolve();
  }

  /**
   * Reads `length` bytes of a dimm's label area through the running driver
   * (READ_METADATA hcalls). `dimm` is `"nmem0"`, `"region0"` or a DRC index.
   * A failure is returned, not thrown: `{ rc: -22, error: "EINVAL" }`.
   */
  readLabel(dimm: string | number, offset: number, length: number): Promise<LabelResult> {
    return checked(() => {
      checkKey("readLabel: dimm", dimm, "nmem0");
      checkCount("readLabel: offset", offset);
      checkCount("readLabel: length", length);
    }, () => this.#call(() => this.#guest.readLabel(dimm, offset, length)));
  }

  /** Writes bytes into a dimm's label area (WRITE_METADATA); a failure is returned. */
  writeLabel(dimm: string | number, offset: number, data: Uint8Array): Promise<LabelResult> {
    return checked(() => {
      checkKey("writeLabel: dimm", dimm, "nmem0");
      checkCount("writeLabel: offset", offset);
      checkBytes("writeLabel: data", data);
    }, () => this.#call(() => this.#guest.writeLabel(dimm, offset, data)));
  }

  /** Reads a dimm's `papr/<attribute>` sysfs file, e.g. `flags` or `perf_stats`. */
  papr(dimm: string | number, attribute: string): Promise<string> {
    return checked(() => {
      checkKey("papr: dimm", dimm, "nmem0");
      checkString("papr: attribute", attribute);
    }, () => this.#call(() => this.#guest.papr(dimm, attribute)));
  }

  /** The dimm's performance statistics (mainline driver: H_SCM_PERFORMANCE_STATS). */
  perfStats(dimm: string | number): Promise<PerfStat[]> {
    return checked(
      () => checkKey("perfStats: dimm", dimm, "nmem0"),
      () => this.#call(() => this.#guest.perfStats(dimm)),
    );
  }

  /**
   * PAPR_PDSM_SMART_INJECT on a dimm (papr_scm from 5.18): `fatal` and
   * `unsafeShutdown` set (true) or clear (false) the injected HEALTH_FATAL and
   * SHUTDOWN_DIRTY bits; an empty request only drops the 60 s health cache.
   * @example
   * ```ts
   * await lpar.smartInject("nmem0", { fatal: true });
   * console.log(await lpar.papr("nmem0", "health_bitmap_inject")); // "0x400000000000000\n"
   * ```
   */
  smartInject(dimm: string | number, request: SmartInject): Promise<SmartInject> {
    return checked(() => {
      checkKey("smartInject: dimm", dimm, "nmem0");
      checkSmartInject(request);
    }, () => this.#call(() => this.#guest.smartInject(dimm, request)));
  }

  /**
   * Flushes a region as `nvdimm_flush` does. With `ibm,hcall-flush-required`
   * the driver loops on H_SCM_FLUSH (sleeping on long busy) and this gives
   * its final return code name, e.g. `H_SUCCESS`; `none` when no hcall is needed.
   */
  flush(region: string | number): Promise<string> {
    return checked(
      () => checkKey("flush: region", region, "region0"),
      () => this.#call(() => this.#guest.flush(region)),
    );
  }

  /**
   * Issues one hcall from inside this LPAR through the real channel.
   * @example
   * ```ts
   * const { rcName } = await lpar.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", 0x44100002n, 0n);
   * ```
   */
  async hcall(opcode: number | string, ...args: Array<bigint | number>): Promise<HcallAnswer> {
    if (this.state === "not activated" || this.state === "shut down") {
      // No kernel, no CPU: a partition that is not activated issues no hcall.
      throw new Error(`LPAR ${this.name} is ${this.state}; raw hcalls need an activated partition`);
    }
    const op = typeof opcode === "string" ? opByName(opcode) : opcode;
    if (op === undefined) throw unknownHcall(opcode);
    if (!Number.isSafeInteger(op) || op < 0 || op > 0xFFFF_FFFF) {
      throw new RangeError(
        `hcall: opcode ${String(op)} is not valid; expected an hcall name or a 32-bit number`,
      );
    }
    const regs = checkRegisters(args);
    const { rc, rets } = await this.#call(() => this.#guest.hcall(op, regs));
    return { rc, rcName: rcName(rc), rets };
  }

  /** Stops the partition: pending and later calls fail with `reason`. */
  #stop(reason: Error = new Error(`LPAR ${this.name} was stopped`)): void {
    if (this.#stoppedBy) return; // already stopped (e.g. its worker crashed first)
    this.#stoppedBy = reason;
    this.#calls.fail(reason);
    this.#partition.stop(reason);
  }
}

export { opName };

/** A PAPR_PDSM_SMART_INJECT request: an object of optional booleans `fatal`, `unsafeShutdown`. */
function checkSmartInject(request: unknown): void {
  const accepted = "an object such as { fatal: true, unsafeShutdown: false }";
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new RangeError(`smartInject: request: expected ${accepted}`);
  }
  for (const [key, value] of Object.entries(request)) {
    if (key !== "fatal" && key !== "unsafeShutdown") {
      throw new RangeError(`smartInject: unknown key "${key}"; accepted: fatal, unsafeShutdown`);
    }
    if (typeof value !== "boolean") {
      throw new RangeError(`smartInject: ${key} ${JSON.stringify(value)}: expected true or false`);
    }
  }
}
