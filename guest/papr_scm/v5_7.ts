/**
 * Linux 5.7: papr_scm marks a persistent region ND_REGION_PERSIST_MEMCTRL,
 * so its `persistence_domain` reads `memory_controller` (`libnvdimm: Update
 * persistence domain value for of_pmem and papr_scm device`, Aneesh Kumar
 * K.V., v3 of March 2020, in the libnvdimm pull for 5.7; ndctl showed
 * `unknown` before); and libnvdimm gives every region an
 * `align` attribute (2522afb86a8c, `libnvdimm/region: Introduce an 'align'
 * attribute`), printed `%#lx` in sysfs and as a number by ndctl.
 * @module
 */
import type { Region } from "../libnvdimm.ts";
import { PaprScm55 } from "./v5_5.ts";

/** `MEMREMAP_COMPAT_ALIGN_MAX`: the default region alignment, 16 MiB. */
export const COMPAT_ALIGN_MAX = 16n << 20n;
/** ppc64's page size, the alignment of a region smaller than 16 MiB. */
export const PPC64_PAGE_SIZE = 64n << 10n;

/** Linux 5.7 papr_scm (and libnvdimm). */
export class PaprScm57 extends PaprScm55 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.7";

  /** ND_REGION_PERSIST_MEMCTRL on a persistent region. */
  protected override persistenceDomain(): Region["persistenceDomain"] {
    return this.isVolatile ? "none" : "memory_controller";
  }

  /** libnvdimm's `default_align` of 5.7: 16 MiB (one mapping), whatever the region's size. */
  protected override regionAlign(_size: bigint): bigint {
    return COMPAT_ALIGN_MAX;
  }
}
