/**
 * Linux 5.19 and its 2022 regression.
 *
 * 0e0946e22f36 (`powerpc/papr_scm: Fix leaking nvdimm_events_map
 * elements`, in 5.19-rc1) rewrote `papr_scm_pmu_check_events` and dropped
 * its first check, `if (!p->stat_buffer_len) return -ENOENT`. On a PowerVM
 * LPAR whose "Enable Performance Information Collection" is off, the probe's
 * size query gets H_AUTHORITY, so `stat_buffer_len` stays 0; the event
 * count `(0 - 16) / 16` is not 0, `kzalloc(0)` gives ZERO_SIZE_PTR (0x10),
 * and `drc_pmem_query_stats` writes the header's count at 0x10 + 12: "BUG:
 * Kernel NULL pointer dereference on write at 0x0000001c" in the probe, and
 * the LPAR panics before it reaches a login prompt (Sachin Sant's report on
 * 5.18.0-rc7-next-20220520). 07bf9431b159 (`powerpc/papr_scm: don't
 * requests stats with '0' sized stats buffer`, 5.19-rc2) puts the check back.
 * QEMU, which has no H_SCM_PERFORMANCE_STATS, leaves `stat_buffer_len` 0 as well.
 * @module
 */
import type { Task } from "./services.ts";
import { PaprScm518 } from "./v5_18.ts";

/** Linux 5.19-rc1 papr_scm: the probe oopses when the hypervisor gave no statistics. */
export class PaprScm519rc1 extends PaprScm518 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.19-rc1";

  /** 0e0946e22f36: no `stat_buffer_len` check before the zero-sized buffer is used. */
  protected override *pmuCheckEvents(): Task<number> {
    if (!this.statBufferLen) {
      // kzalloc(0) = ZERO_SIZE_PTR; the header's num_statistics is at 0x10 + 12.
      this.kernel.oops([
        "BUG: Kernel NULL pointer dereference on write at 0x0000001c",
        "Oops: Kernel access of bad area, sig: 11 [#1]",
        "NIP [c008000001b90844] drc_pmem_query_stats+0x5c/0x270 [papr_scm]",
        "LR [c008000001b92794] papr_scm_probe+0x2ac/0x6ec [papr_scm]",
      ]);
    }
    return yield* this.listEvents();
  }
}

/** Linux 5.19 papr_scm: 07bf9431b159 restores the check; `mainline` is this driver. */
export class PaprScm519 extends PaprScm518 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.19";
}
