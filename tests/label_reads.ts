/**
 * The READ_METADATA calls libnvdimm makes at every dimm probe
 * (`nd_label_data_init` reads both index blocks, 512 bytes of a 128 KiB
 * label area): 5.2's driver moves one byte per hcall, later ones eight.
 */
import type { KernelVersion } from "../guest/papr_scm/mod.ts";

/** How many READ_METADATA hcalls the probe of one dimm with empty labels makes. */
export function probeReadCount(kernel: KernelVersion): number {
  return kernel === "5.2" ? 512 : 64;
}

/** That many `H_SCM_READ_METADATA<sep>H_SUCCESS` entries, as a trace shows them. */
export function probeReads(kernel: KernelVersion, sep = ":"): string[] {
  return Array(probeReadCount(kernel)).fill(`H_SCM_READ_METADATA${sep}H_SUCCESS`);
}
