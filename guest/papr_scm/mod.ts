/**
 * The papr_scm driver versions, by kernel version.
 * @module
 */
import type { KernelServices, PlatformDevice } from "./services.ts";
import { PaprScm52 } from "./v5_2.ts";
import { PaprScm53 } from "./v5_3.ts";
import { PaprScm54 } from "./v5_4.ts";
import { PaprScmMainline } from "./v_mainline.ts";

/** Kernel versions the simulator can boot (`mainline` is today's Linux). */
export const KERNEL_VERSIONS = ["5.2", "5.3", "5.4", "mainline"] as const;

/** A kernel version the simulator can boot. */
export type KernelVersion = typeof KERNEL_VERSIONS[number];

/** A driver class. */
export type PaprScmDriverClass = {
  new (kernel: KernelServices, pdev: PlatformDevice): PaprScm52;
  /** Device-tree `compatible` values it binds to. */
  readonly compatible: readonly string[];
};

/** The papr_scm driver of each kernel version. */
export const DRIVERS: Record<KernelVersion, PaprScmDriverClass> = {
  "5.2": PaprScm52,
  "5.3": PaprScm53,
  "5.4": PaprScm54,
  mainline: PaprScmMainline,
};

/** Checks a kernel version, naming the accepted ones when it is unknown. */
export function parseKernelVersion(value: unknown): KernelVersion {
  if (typeof value === "string" && (KERNEL_VERSIONS as readonly string[]).includes(value)) {
    return value as KernelVersion;
  }
  throw new RangeError(
    `unknown kernel version ${JSON.stringify(value)}; accepted: ${KERNEL_VERSIONS.join(", ")}`,
  );
}

export { PaprScm52, PaprScm53, PaprScm54, PaprScmMainline };
export type { KernelServices, PlatformDevice };
