/**
 * papr_scm of Linux 5.14 (three patches of Vaibhav Jain's, all in 5.14):
 * - `papr/dirty_shutdown` and the PDSM health's `shutdown_count` from
 *   `ibm,persistence-failed-count` (`powerpc/papr_scm: Add support for
 *   reporting dirty-shutdown-count`);
 * - the stats size query moves into the probe, before
 *   `papr_scm_nvdimm_init`, without the `unavailable` message, and
 *   `papr/perf_stats` is hidden when there are none (`powerpc/papr_scm:
 *   Make 'perf_stats' invisible if perf-stats unavailable`);
 * - H_AUTHORITY (the partition may not collect performance information) is
 *   an info line, `Permission denied while accessing performance stats`, and
 *   H_UNSUPPORTED a debug one (f3f6d18417eb, `powerpc/papr_scm: Reduce error
 *   severity if nvdimm stats inaccessible`).
 * @module
 */
import { H } from "../../abi/hcalls.ts";
import { readU64 } from "../device_tree.ts";
import type { DimmHealth } from "../libnvdimm.ts";
import { done } from "../task.ts";
import { EOPNOTSUPP, EPERM, type Task } from "./services.ts";
import { PaprScm513 } from "./v5_13.ts";

/** Linux 5.14 papr_scm. */
export class PaprScm514 extends PaprScm513 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.14";

  /** `ibm,persistence-failed-count`. */
  dirtyShutdownCounter = 0n;

  /** The 5.13 properties plus `ibm,persistence-failed-count`. */
  protected override readProperties(): number {
    const rc = super.readProperties();
    if (rc) return rc;
    this.dirtyShutdownCounter = readU64(this.pdev.node, "ibm,persistence-failed-count") ?? 0n;
    return 0;
  }

  /** The stats size query now comes first, before `papr_scm_nvdimm_init`, and says nothing. */
  protected override statsQueryFirst(): boolean {
    return true;
  }

  /** H_AUTHORITY: info and -EPERM; H_UNSUPPORTED: debug and -EOPNOTSUPP; else as 5.9. */
  protected override statsFailure(rc: number): number {
    if (rc === H.AUTHORITY) {
      this.dev("info", "Permission denied while accessing performance stats");
      return -EPERM;
    }
    if (rc === H.UNSUPPORTED) {
      this.dev("debug", "Performance stats unsupported");
      return -EOPNOTSUPP;
    }
    return super.statsFailure(rc);
  }

  /**
   * `papr_nd_attributes` as `papr_nd_attribute_visible` shows them:
   * `flags`, `perf_stats` only with statistics, `dirty_shutdown`.
   */
  protected override sysfs(): Record<string, () => Task<string>> {
    const attrs = super.sysfs();
    if (!this.statBufferLen) delete attrs.perf_stats;
    attrs.dirty_shutdown = () => done(`${this.dirtyShutdownCounter}\n`);
    return attrs;
  }

  /** The PDSM health's dirty-shutdown count (`papr_pdsm_dsc`). */
  protected override *healthExtensions(health: DimmHealth): Task<void> {
    yield* super.healthExtensions(health);
    health.shutdown_count = Number(BigInt.asUintN(32, this.dirtyShutdownCounter));
  }
}
