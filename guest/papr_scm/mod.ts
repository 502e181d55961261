/**
 * The papr_scm driver versions, by kernel version: each a small diff of the
 * one before (v5_3.ts extends v5_2.ts, and so on), named by the kernel
 * release that changed what the driver does with the hypervisor.
 * @module
 */
import type { KernelServices, PlatformDevice } from "./services.ts";
import { PaprScm52 } from "./v5_2.ts";
import { PaprScm53 } from "./v5_3.ts";
import { PaprScm54 } from "./v5_4.ts";
import { PaprScm55 } from "./v5_5.ts";
import { PaprScm57 } from "./v5_7.ts";
import { PaprScm58 } from "./v5_8.ts";
import { PaprScm59 } from "./v5_9.ts";
import { PaprScm513 } from "./v5_13.ts";
import { PaprScm514 } from "./v5_14.ts";
import { PaprScm518 } from "./v5_18.ts";
import { PaprScm519, PaprScm519rc1 } from "./v5_19.ts";

/** Kernel versions the simulator can boot (`mainline` is an alias of the newest, 5.19). */
export const KERNEL_VERSIONS = [
  "5.2",
  "5.3",
  "5.4",
  "5.5",
  "5.7",
  "5.8",
  "5.9",
  "5.13",
  "5.14",
  "5.18",
  "5.19-rc1",
  "5.19",
  "mainline",
] as const;

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
  "5.5": PaprScm55,
  "5.7": PaprScm57,
  "5.8": PaprScm58,
  "5.9": PaprScm59,
  "5.13": PaprScm513,
  "5.14": PaprScm514,
  "5.18": PaprScm518,
  "5.19-rc1": PaprScm519rc1,
  "5.19": PaprScm519,
  mainline: PaprScm519,
};

/** Each version's `uname -r` and the date of its tag, for the `Linux version` line. */
export const KERNEL_RELEASES: Readonly<Record<KernelVersion, { release: string; date: string }>> = {
  "5.2": { release: "5.2.0", date: "Sun Jul 7 22:41:56 UTC 2019" },
  "5.3": { release: "5.3.0", date: "Sun Sep 15 21:19:32 UTC 2019" },
  "5.4": { release: "5.4.0", date: "Sun Nov 24 16:32:01 UTC 2019" },
  "5.5": { release: "5.5.0", date: "Sun Jan 26 16:23:03 UTC 2020" },
  "5.7": { release: "5.7.0", date: "Sun May 31 16:49:15 UTC 2020" },
  "5.8": { release: "5.8.0", date: "Sun Aug 2 14:21:45 UTC 2020" },
  "5.9": { release: "5.9.0", date: "Sun Oct 11 14:15:50 UTC 2020" },
  "5.13": { release: "5.13.0", date: "Sun Jun 27 15:21:11 UTC 2021" },
  "5.14": { release: "5.14.0", date: "Sun Aug 29 15:04:50 UTC 2021" },
  "5.18": { release: "5.18.0", date: "Sun May 22 09:52:31 UTC 2022" },
  "5.19-rc1": { release: "5.19.0-rc1", date: "Sun Jun 5 17:18:54 UTC 2022" },
  "5.19": { release: "5.19.0", date: "Sun Jul 31 14:03:01 UTC 2022" },
  mainline: { release: "5.19.0", date: "Sun Jul 31 14:03:01 UTC 2022" },
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

/** Whether kernel `version` runs the driver of `since` or a later one (`mainline` is the newest). */
export function atLeast(version: KernelVersion, since: KernelVersion): boolean {
  return KERNEL_VERSIONS.indexOf(version) >= KERNEL_VERSIONS.indexOf(since);
}

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
};
export { PaprScm519 as PaprScmMainline };
export type { KernelServices, PlatformDevice };
