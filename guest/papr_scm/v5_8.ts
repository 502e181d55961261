/**
 * papr_scm of Linux 5.8: dimm health from H_SCM_HEALTH (b791abf3201d,
 * `powerpc/papr_scm: Fetch nvdimm health information from PHYP`), kept 60 s
 * (`MIN_HEALTH_QUERY_INTERVAL`) for the `papr/flags` file, and the
 * PAPR_PDSM_HEALTH answer ndctl reads over ND_CMD_CALL (d35f18b554be,
 * `powerpc/papr_scm: Implement support for PAPR_PDSM_HEALTH`), which always
 * asks afresh. Any H_SCM_HEALTH failure is an error here; H_FUNCTION is
 * taken quietly only from 5.18.
 * @module
 */
import { H, OP } from "../../abi/hcalls.ts";
import { HEALTH } from "../../abi/health.ts";
import { type DimmHealth, ERRNO, type Nvdimm } from "../libnvdimm.ts";
import { ENXIO, type Task } from "./services.ts";
import { PaprScm57 } from "./v5_7.ts";

/** `PAPR_PMEM_UNARMED_MASK`. */
export const UNARMED_MASK = HEALTH.UNARMED | HEALTH.HEALTH_UNHEALTHY;
/** `PAPR_PMEM_SMART_EVENT_MASK`. */
const SMART_EVENT_MASK = HEALTH.HEALTH_CRITICAL | HEALTH.HEALTH_FATAL | HEALTH.HEALTH_UNHEALTHY;
/** `MIN_HEALTH_QUERY_INTERVAL`: seconds the cached health is trusted. */
export const MIN_HEALTH_QUERY_INTERVAL_S = 60;

/** A sysfs read that failed; `errno` is negative. */
export class SysfsError extends Error {
  readonly errno: number;
  constructor(attribute: string, errno: number) {
    super(`reading papr/${attribute} failed: ${ERRNO[-errno] ?? errno} (${errno})`);
    this.name = "SysfsError";
    this.errno = errno;
  }
}

/** A 64-bit register as `%016lx`/`%016llX` prints it. */
export const hex16 = (v: bigint): string =>
  BigInt.asUintN(64, v).toString(16).toUpperCase().padStart(16, "0");

/** Linux 5.8 papr_scm. */
export class PaprScm58 extends PaprScm57 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.8";

  /** Last health bitmap read (r4 & r5). */
  healthBitmap = 0n;
  /** `lasthealth_jiffies` as the machine's clock (ns); undefined until the first query. */
  lastHealthAt?: number;

  /** `papr/flags` (5.8 on); later versions add attributes. */
  protected override sysfs(): Record<string, () => Task<string>> {
    return { flags: () => this.flagsText() };
  }

  /** Gives the dimm its health: the PAPR_PDSM_HEALTH answer of `papr_pdsm_health`. */
  protected override decorateDimm(dimm: Nvdimm): void {
    dimm.health = () => this.pdsmHealth();
  }

  /** What `__drc_pmem_query_health` does with an answer other than H_SUCCESS (5.8: an error). */
  protected healthFailure(rc: number): number {
    this.dev("err", `Failed to query health information, Err:${rc}`);
    return -ENXIO;
  }

  /** The health bitmap after the hcall; 5.18 applies its inject mask here. */
  protected effectiveHealth(bitmap: bigint): bigint {
    return bitmap;
  }

  /** `__drc_pmem_query_health`: H_SCM_HEALTH, bitmap = r4 & r5, cached with its time. */
  *queryHealth(): Task<number> {
    const r = yield* this.hcall(OP.H_SCM_HEALTH, BigInt(this.drcIndex));
    let bitmap = 0n;
    if (r.rc === H.SUCCESS) bitmap = r.rets[0] & r.rets[1];
    else {
      const rc = this.healthFailure(r.rc);
      if (rc) return rc;
    }
    this.lastHealthAt = this.kernel.now();
    this.healthBitmap = this.effectiveHealth(bitmap);
    this.dev(
      "debug",
      `Queried dimm health info. Bitmap:0x${hex16(r.rets[0])} Mask:0x${hex16(r.rets[1])}`,
    );
    return 0;
  }

  /** `drc_pmem_query_health`: the cached bitmap while younger than 60 s, else a fresh query. */
  *cachedHealth(): Task<number> {
    const at = this.lastHealthAt;
    if (at !== undefined && this.kernel.now() - at <= MIN_HEALTH_QUERY_INTERVAL_S * 1e9) return 0;
    return yield* this.queryHealth();
  }

  /** `flags_show`: the words of `papr/flags`, each followed by a space, then a newline. */
  *flagsText(): Task<string> {
    const rc = yield* this.cachedHealth();
    if (rc) throw new SysfsError("flags", rc);
    const words = flagsWords(this.healthBitmap);
    return words ? `${words}\n` : "";
  }

  /** `papr_pdsm_health` (a fresh query), as libndctl's papr ops turn it into -H output. */
  *pdsmHealth(): Task<DimmHealth> {
    if (yield* this.queryHealth()) return { health_state: "unknown", flags: [] };
    const h = this.healthBitmap;
    // dimm_health: FATAL, CRITICAL, UNHEALTHY, else healthy; libndctl maps
    // UNHEALTHY to non-critical. HEALTH_NON_CRITICAL maps to nothing.
    const health_state = h & HEALTH.HEALTH_FATAL
      ? "fatal"
      : h & HEALTH.HEALTH_CRITICAL
      ? "critical"
      : h & HEALTH.HEALTH_UNHEALTHY
      ? "non-critical"
      : "ok";
    const health: DimmHealth = {
      health_state,
      shutdown_state: h & HEALTH.SHUTDOWN_DIRTY ? "dirty" : "clean",
      flags: dimmFlags(flagsWords(h)),
    };
    yield* this.healthExtensions(health);
    return health;
  }

  /** The PDSM health payload's extension fields (none in 5.8). */
  protected *healthExtensions(_health: DimmHealth): Task<void> {}
}

/** The `papr/flags` words of a health bitmap, each followed by a space (kernel order). */
export function flagsWords(h: bigint): string {
  return [
    h & UNARMED_MASK ? "not_armed " : "",
    h & HEALTH.SHUTDOWN_DIRTY ? "flush_fail " : "",
    h & HEALTH.EMPTY ? "restore_fail " : "",
    h & HEALTH.ENCRYPTED ? "encrypted " : "",
    h & SMART_EVENT_MASK ? "smart_notify " : "",
    h & HEALTH.SCRUBBED_AND_LOCKED ? "scrubbed locked " : "",
  ].join("");
}

/** libndctl's `parse_papr_flags`: `papr/flags` words to `ndctl list -D` flag keys. */
export function dimmFlags(flagsText: string): string[] {
  const words = new Set(flagsText.split(" "));
  const keys: Array<[string, string]> = [
    ["not_armed", "flag_failed_arm"],
    ["restore_fail", "flag_failed_restore"],
    ["flush_fail", "flag_failed_flush"],
    ["smart_notify", "flag_smart_event"],
  ];
  return keys.filter(([word]) => words.has(word)).map(([, key]) => key);
}
