/**
 * A guest kernel: boots from a device tree, probes every `ibm,pmemory` node
 * with the papr_scm driver of its version, and keeps a dmesg ring.
 * @module
 */
import { opByName, opName, RET_COUNT, unknownHcall } from "../abi/hcalls.ts";
import type { DtNode } from "./device_tree.ts";
import { PMEM_PARENT, pmemNodes, readString, readU32 } from "./device_tree.ts";
import { Dmesg, type LogLevel } from "./dmesg.ts";
import { Libnvdimm, type Media } from "./libnvdimm.ts";
import { RealMemory } from "./memory.ts";
import {
  DRIVERS,
  KERNEL_RELEASES,
  type KernelVersion,
  type PaprScm52,
  type PaprScmDriverClass,
} from "./papr_scm/mod.ts";
import { ENODEV, ENXIO, type KernelServices } from "./papr_scm/services.ts";
import { compute, msleep, type PlparResult, type Task } from "./task.ts";

/** What kexec-tools appends for a kdump (capture) kernel; `elfcorehdr=` marks it. */
export const KDUMP_ARGS = "irqpoll maxcpus=1 noirqdistrib reset_devices elfcorehdr=155584K";

/** Raised inside the kernel to unwind it when it panics. */
export class KernelPanic extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "KernelPanic";
  }
}

/** Make the kernel panic right after its `nth` call of an hcall returns. */
export interface PanicPoint {
  /** Hcall name, e.g. `H_SCM_BIND_MEM`. */
  hcall: string;
  /** Which call (1 = the first). */
  nth: number;
}

/** How to boot a kernel. */
export interface KernelOptions {
  version: KernelVersion;
  deviceTree: DtNode;
  /** The machine's clock in ns (virtual in the simulation), for dmesg timestamps. */
  clock(): number;
  /** True when the machine asked this kernel to panic now. */
  panicRequested(): boolean;
  /** Load the papr_scm driver (default true); off, the ABI can be driven by hand. */
  paprScm?: boolean;
  /** Panic at a chosen hcall, e.g. in the middle of a sliced bind. */
  panicAt?: PanicPoint;
  /** This is a kdump (crash) kernel started by kexec after a panic. */
  kdump?: boolean;
  /** The partition's real memory, which the hypervisor can write into. */
  realMemory?: ArrayBufferLike;
  /** What the kernel's own work costs (virtual time in the simulation). */
  costs?: Partial<KernelCosts>;
  /** Driver classes to use instead of the real ones (a test's deliberately broken variant). */
  drivers?: DriverOverrides;
  /** A trace's hook: called as a probe starts (with the node's DRC), it returns the probe's end. */
  traceProbe?: (drc: number) => (rc: number | undefined) => void;
  /** What the kernel's regions map (DAX), for the namespace probes' info blocks. */
  media?: Media;
}

/** Replacement papr_scm drivers, by kernel version. */
export type DriverOverrides = Partial<Record<KernelVersion, PaprScmDriverClass>>;

/** Time the kernel itself spends, so virtual time shows what each driver path costs. */
export interface KernelCosts {
  /** From the start of the kernel to its first driver probe, in ns. */
  bootNs: number;
  /** Registering one GiB of region memory, in ns. */
  registerNsPerGiB: number;
}

/** No cost: the kernel's own work takes no virtual time. */
export const NO_KERNEL_COSTS: KernelCosts = { bootNs: 0, registerNsPerGiB: 0 };

/** Kernel life cycle states. */
export type KernelState = "booting" | "running" | "panicked" | "halted";

/** One running guest kernel. */
export class GuestKernel {
  readonly version: KernelVersion;
  readonly dmesg: Dmesg;
  readonly libnvdimm: Libnvdimm = new Libnvdimm();
  readonly drivers: PaprScm52[] = [];
  /** This kernel's allocator over the partition's real memory (fresh at each boot). */
  readonly memory?: RealMemory;
  state: KernelState = "booting";
  /** Hcalls issued by this kernel, by opcode. */
  readonly hcallCounts: Map<number, number> = new Map();
  readonly #options: KernelOptions;
  readonly #bootedAt: number;
  readonly #panicOp?: number;
  readonly #costs: KernelCosts;
  /** Before the kernel's clock runs: early boot lines are stamped 0.000000. */
  #early = true;

  constructor(options: KernelOptions) {
    this.version = options.version;
    this.#options = options;
    if (options.realMemory) this.memory = new RealMemory(options.realMemory);
    this.#costs = { ...NO_KERNEL_COSTS, ...options.costs };
    this.#bootedAt = options.clock();
    // printk's clock reads 0 until the kernel's timekeeping starts (the banner lines);
    // after that, seconds since this kernel started, from the machine's (virtual) clock.
    this.dmesg = new Dmesg(() => this.#early ? 0 : (options.clock() - this.#bootedAt) / 1e9);
    this.libnvdimm.media = options.media;
    this.libnvdimm.log = (text) => this.log("warn", text);
    if (options.panicAt) {
      const op = opByName(options.panicAt.hcall);
      if (op === undefined) throw unknownHcall(options.panicAt.hcall);
      this.#panicOp = op;
    }
  }

  /** printk. */
  log(level: LogLevel, text: string): void {
    this.dmesg.log(level, text);
  }

  /** Boots: banner, then probes SCM devices. Throws KernelPanic if it panics. */
  *boot(): Task<void> {
    const { release, date } = KERNEL_RELEASES[this.version];
    // ppc64's early_setup finds the platform before start_kernel prints its banner
    // (arch/powerpc/kernel/setup-common.c, probe_machine).
    this.log("info", "Using pSeries machine description");
    // As init/version.c prints it: release, builder, compiler, build number, flags, date.
    this.log(
      "notice",
      `Linux version ${release}-papr-scm-sim (sim@papr-scm-sim) (gcc (GCC) 9.3.0) #1 SMP ${date}`,
    );
    // A kdump kernel is the same build, started by kexec-tools after the panic with the
    // capture kernel's arguments and the old kernel's ELF core header address.
    const cmdline = `BOOT_IMAGE=/boot/vmlinuz-${release} root=/dev/sda2 ro` +
      (this.#options.kdump ? ` ${KDUMP_ARGS}` : "");
    this.log("notice", `Kernel command line: ${cmdline}`);
    this.#early = false;
    yield* compute(this.#costs.bootNs, "boot");
    if (this.#options.paprScm !== false) yield* this.#probeAll();
    this.state = "running";
  }

  *#probeAll(): Task<void> {
    // An indexed loop: this frame is resumed on every hcall of every probe, so it stays small.
    const nodes = pmemNodes(this.#options.deviceTree);
    for (let i = 0; i < nodes.length; i++) yield* this.#probe(nodes[i].path, nodes[i].node);
  }

  *#probe(path: string, node: DtNode): Task<number> {
    const Driver = this.#options.drivers?.[this.version] ?? DRIVERS[this.version];
    // No driver of this version matches the node: nothing probes it.
    if (!Driver.compatible.includes(readString(node, "compatible") ?? "")) return -ENODEV;
    const driver = new Driver(this.services(), {
      node,
      path,
      name: `ibm,persistent-memory:${node.name}`,
    });
    const probed = this.#options.traceProbe?.(readU32(node, "ibm,my-drc-index") ?? 0);
    let rc: number | undefined;
    try {
      rc = yield* driver.probe();
    } finally {
      // undefined: the probe did not return (a panic, or a stopped partition).
      probed?.(rc);
    }
    if (rc === 0) {
      this.drivers.push(driver);
      // libnvdimm probes the dimm (reading its labels) and the region the driver registered.
      if (driver.bus) yield* this.libnvdimm.probeBus(driver.bus, driver.uuid);
    } // The driver core (drivers/base/dd.c, really_probe) keeps -ENODEV and -ENXIO
    // quiet and warns of any other failure.
    else if (rc !== -ENODEV && rc !== -ENXIO) {
      this.log("warn", `papr_scm: probe of ${driver.pdev.name} failed with error ${rc}`);
    }
    return rc;
  }

  /**
   * DLPAR add: a new `ibm,pmemory` node appeared under the SCM parent; the
   * driver probes it. Returns the probe's result (0 or a negative errno).
   */
  *hotplugAdd(node: DtNode): Task<number> {
    const path = `/${PMEM_PARENT}/${node.name}`;
    // pseries-pmem's pmem_drc_add_node: attaching the node probes the device (the OF
    // reconfig notifier makes its platform device), then it says so
    // (arch/powerpc/platforms/pseries/pmem.c).
    const rc = this.#options.paprScm === false ? -ENODEV : yield* this.#probe(path, node);
    const drc = readU32(node, "ibm,my-drc-index") ?? 0;
    this.log("info", `pseries-pmem: Successfully added ${path}, drc index: ${drc.toString(16)}`);
    return rc;
  }

  /**
   * DLPAR remove: the driver bound to the DRC's node is removed (papr_scm's
   * remove() unregisters the region and unbinds). False when no driver had it.
   */
  *hotplugRemove(drc: number): Task<boolean> {
    const i = this.drivers.findIndex((d) => d.drcIndex === drc);
    // pseries-pmem's pmem_drc_remove_node: detaching the node removes the device
    // (papr_scm's .remove), then the DRC is released and it says so.
    if (i >= 0) {
      const [driver] = this.drivers.splice(i, 1);
      yield* driver.remove();
    }
    this.log("info", `pseries-pmem: Successfully removed PMEM with drc index: ${drc.toString(16)}`);
    return i >= 0;
  }

  /** The facilities drivers use. */
  services(): KernelServices {
    return {
      // Bound, not wrapped: a wrapper would copy the registers once more per hcall.
      hcall: this.hcall.bind(this),
      log: (level, text) => this.log(level, text),
      msleep,
      compute,
      registerNsPerGiB: this.#costs.registerNsPerGiB,
      libnvdimm: this.libnvdimm,
      memory: this.memory,
      now: () => this.#options.clock(),
      oops: (lines) => {
        for (const line of lines) this.log("emerg", line);
        // A fatal oops in a driver's probe: pseries panics (`Fatal exception`).
        return this.panic("Fatal exception");
      },
    };
  }

  /**
   * plpar_hcall: one hcall (`hvsc`), with the panic points checked. It yields
   * the effect itself, as task.ts `hcall` does, rather than through it: every
   * generator frame between the scheduler and the hcall is resumed on each
   * answer, and a label read makes many hcalls from deep in the probe.
   */
  *hcall(opcode: number, ...args: bigint[]): Task<PlparResult> {
    if (this.#options.panicRequested()) this.panic("sysrq triggered crash");
    const answer = yield { kind: "hcall", opcode, args };
    return this.#answered(opcode, answer);
  }

  /** Checks an hcall's answer and counts the call (an injected panic may be due). */
  #answered(opcode: number, answer: PlparResult | undefined): PlparResult {
    if (!answer) {
      throw new Error(
        `the runtime resumed an hcall (opcode 0x${opcode.toString(16)}) without an answer`,
      );
    }
    if (answer.rets.length !== RET_COUNT) {
      throw new Error(
        `an hcall answer must carry ${RET_COUNT} registers, not ${answer.rets.length}`,
      );
    }
    const n = (this.hcallCounts.get(opcode) ?? 0) + 1;
    this.hcallCounts.set(opcode, n);
    if (opcode === this.#panicOp && n === this.#options.panicAt!.nth) {
      this.panic(`injected at ${opName(opcode)} call ${n}`);
    }
    return answer;
  }

  /** The papr_scm driver bound to a DRC, if it probed. */
  driverFor(drcIndex: number): PaprScm52 | undefined {
    return this.drivers.find((d) => d.drcIndex === drcIndex);
  }

  /** Panics: logs it and unwinds whatever the kernel was doing. */
  panic(reason: string): never {
    this.state = "panicked";
    this.log("emerg", `Kernel panic - not syncing: ${reason}`);
    throw new KernelPanic(reason);
  }

  /** Stops the kernel where it stands (halt, or the start of a kexec). */
  halt(): void {
    if (this.state !== "panicked") this.state = "halted";
  }
}
