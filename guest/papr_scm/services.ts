/**
 * What the kernel offers a driver: hcalls, logging, sleeping, libnvdimm.
 * @module
 */
import type { DtNode } from "../device_tree.ts";
import type { LogLevel } from "../dmesg.ts";
import type { Libnvdimm } from "../libnvdimm.ts";
import type { RealMemory } from "../memory.ts";
import type { PlparResult, Task } from "../task.ts";

export type { PlparResult, Task };

/** Kernel facilities a driver uses. */
export interface KernelServices {
  /** `plpar_hcall`: issues an hcall (a point where the task blocks). */
  hcall(opcode: number, ...args: bigint[]): Task<PlparResult>;
  /** `printk`. */
  log(level: LogLevel, text: string): void;
  /** `msleep`: gives up the CPU for `ms` milliseconds. */
  msleep(ms: number): Task<void>;
  /** Spends `ns` of the kernel's own CPU on `what` (virtual time in the simulation). */
  compute(ns: number, what: string): Task<void>;
  /** Kernel CPU time it takes to register one GiB of region (`devm_memremap_pages`), in ns. */
  registerNsPerGiB: number;
  /** The nvdimm subsystem. */
  libnvdimm: Libnvdimm;
  /** The LPAR's real memory (`kzalloc`), when the partition has one. */
  memory?: RealMemory;
  /** The machine's clock in ns (`jiffies`, for the driver's health cache). */
  now(): number;
  /** An oops the kernel cannot survive: its lines at the default level, then the panic. */
  oops(lines: readonly string[]): never;
}

/** A platform device the driver binds to: a device-tree node and its names. */
export interface PlatformDevice {
  /** The device's `ibm,pmemory` device-tree node (`pdev->dev.of_node`). */
  node: DtNode;
  /** Full device-tree path, as `%pOF` prints it. */
  path: string;
  /** Device name, as `dev_name()` gives it (`ibm,persistent-memory:ibm,pmemory@...`). */
  name: string;
}

/** Linux errno values the probe path returns. */
export const ENODEV = 19;
/** No such device or address. */
export const ENXIO = 6;
/** Invalid argument. */
export const EINVAL = 22;
/** I/O error. */
export const EIO = 5;
/** Out of memory. */
export const ENOMEM = 12;
/** No such entry. */
export const ENOENT = 2;
/** Operation not permitted. */
export const EPERM = 1;
/** Operation not supported. */
export const EOPNOTSUPP = 95;
/** Device or resource busy. */
export const EBUSY = 16;
