/**
 * papr_scm of Linux 5.18:
 * - SMART error injection: PAPR_PDSM_SMART_INJECT sets or clears the
 *   HEALTH_FATAL and SHUTDOWN_DIRTY bits of an inject mask laid over every
 *   health answer, shown (hex) in `papr/health_bitmap_inject`, and drops the
 *   health cache (`powerpc/papr_scm: Implement initial support for injecting
 *   smart errors`); with it, H_FUNCTION from H_SCM_HEALTH (a hypervisor
 *   without the hcall) is taken as an empty bitmap, said once at info level;
 * - libnvdimm's default alignment of a region smaller than 16 MiB becomes
 *   a page (d9d290d7e659, `nvdimm/region: Fix default alignment for small
 *   regions`);
 * - the nvdimm performance PMU (4c08d4bbc089, `powerpc/papr_scm: Add perf
 *   interface support`): after `papr_scm_nvdimm_init` the probe lists the
 *   statistics the hypervisor offers (one more H_SCM_PERFORMANCE_STATS) and
 *   registers a PMU; without statistics it says `nvdimm pmu didn't register
 *   rc=-2` (-ENOENT), as on QEMU, which has no such hcall.
 * @module
 */
import { H } from "../../abi/hcalls.ts";
import { HEALTH } from "../../abi/health.ts";
import { done } from "../task.ts";
import { ENOENT, ENOMEM, type Task } from "./services.ts";
import { PaprScm514 } from "./v5_14.ts";
import { COMPAT_ALIGN_MAX, PPC64_PAGE_SIZE } from "./v5_7.ts";

/** What PAPR_PDSM_SMART_INJECT asks: each flag given sets (true) or clears (false) its bit. */
export interface SmartInject {
  /** PDSM_SMART_INJECT_HEALTH_FATAL: HEALTH_FATAL. */
  fatal?: boolean;
  /** PDSM_SMART_INJECT_BAD_SHUTDOWN: SHUTDOWN_DIRTY. */
  unsafeShutdown?: boolean;
}

/** Linux 5.18 papr_scm. */
export class PaprScm518 extends PaprScm514 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.18";

  /** `health_bitmap_inject_mask`. */
  healthInjectMask = 0n;
  /** Whether the PMU registered (`pdev->archdata.priv`). */
  pmuRegistered = false;
  /** The stat ids the PMU offers as events (`nvdimm_events_map`). */
  pmuEvents: string[] = [];
  #healthUnimplementedLogged = false;

  /** d9d290d7e659: a page for a region smaller than 16 MiB. */
  protected override regionAlign(size: bigint): bigint {
    return size < COMPAT_ALIGN_MAX ? PPC64_PAGE_SIZE : COMPAT_ALIGN_MAX;
  }

  /** `dev_info_once` for H_FUNCTION; anything else is still an error. */
  protected override healthFailure(rc: number): number {
    if (rc !== H.FUNCTION) return super.healthFailure(rc);
    if (!this.#healthUnimplementedLogged) {
      this.#healthUnimplementedLogged = true;
      this.dev("info", "Hcall H_SCM_HEALTH not implemented, assuming empty health bitmap");
    }
    return 0;
  }

  /** The inject mask's bits are forced on. */
  protected override effectiveHealth(bitmap: bigint): bigint {
    const mask = this.healthInjectMask;
    return mask ? (bitmap & ~mask) | mask : bitmap;
  }

  /** 5.14's attributes plus `health_bitmap_inject` (`%#llx`). */
  protected override sysfs(): Record<string, () => Task<string>> {
    const attrs = super.sysfs();
    attrs.health_bitmap_inject = () => {
      const mask = this.healthInjectMask;
      return done(mask ? `0x${mask.toString(16)}\n` : "0\n");
    };
    return attrs;
  }

  /** `papr_pdsm_smart_inject`: updates the mask and invalidates the cache; the flags served. */
  smartInject(request: SmartInject): SmartInject {
    let inject = 0n, clear = 0n;
    const served: SmartInject = {};
    if (request.fatal !== undefined) {
      served.fatal = request.fatal;
      if (request.fatal) inject |= HEALTH.HEALTH_FATAL;
      else clear |= HEALTH.HEALTH_FATAL;
    }
    if (request.unsafeShutdown !== undefined) {
      served.unsafeShutdown = request.unsafeShutdown;
      if (request.unsafeShutdown) inject |= HEALTH.SHUTDOWN_DIRTY;
      else clear |= HEALTH.SHUTDOWN_DIRTY;
    }
    this.dev(
      "debug",
      `[Smart-inject] inject_mask=0x${inject.toString(16)} clear_mask=0x${clear.toString(16)}`,
    );
    this.healthInjectMask = (this.healthInjectMask & ~clear) | inject;
    this.lastHealthAt = undefined;
    return served;
  }

  /** The probe ends with `papr_scm_pmu_register`. */
  override *probe(): Task<number> {
    const rc = yield* super.probe();
    if (rc === 0) yield* this.pmuRegister();
    return rc;
  }

  /** `papr_scm_pmu_register`: lists the events, or says why there is no PMU. */
  protected *pmuRegister(): Task<void> {
    const rc = yield* this.pmuCheckEvents();
    if (rc) {
      this.dev("info", `nvdimm pmu didn't register rc=${rc}`);
      return;
    }
    this.pmuRegistered = true;
  }

  /**
   * `papr_scm_pmu_check_events` of 5.18 (and of 5.19 after 07bf9431b159):
   * -ENOENT when the hypervisor has no statistics, else every stat id.
   */
  protected *pmuCheckEvents(): Task<number> {
    if (!this.statBufferLen) return -ENOENT;
    return yield* this.listEvents();
  }

  /** Asks every statistic once and keeps their ids as the PMU's events. */
  protected *listEvents(): Task<number> {
    const stats = yield* this.readStats();
    if (typeof stats === "number") return stats === -ENOENT ? -ENOENT : stats || -ENOMEM;
    this.pmuEvents = stats.map((s) => s.id);
    return 0;
  }
}
