/**
 * papr_scm of today's mainline: the 5.4 bind logic plus what came later:
 * the metadata bounds fix (5.5), dimm health from H_SCM_HEALTH with the
 * `papr/flags` words and the PAPR_PDSM_HEALTH answer ndctl reads, the
 * SCMSTATS performance statistics (`papr/perf_stats`, the fuel gauge), the
 * dirty-shutdown counter, and H_SCM_FLUSH for regions that need it.
 * @module
 */
import { H, OP } from "../../abi/hcalls.ts";
import { HEALTH } from "../../abi/health.ts";
import { readBool, readU64 } from "../device_tree.ts";
import { type DimmHealth, ERRNO, type Nvdimm, type Region } from "../libnvdimm.ts";
import { EIO, ENOENT, ENOMEM, ENXIO, EOPNOTSUPP, EPERM, type Task } from "./services.ts";
import { done } from "../task.ts";
import { PaprScm54 } from "./v5_4.ts";

/** SCMSTATS header: eye-catcher, version, count. */
const STATS_HEADER = 16;
/** One SCMSTATS entry: 8-byte id, big-endian u64 value. */
const STAT_ENTRY = 16;
const EYECATCHER = "SCMSTATS";
const STATS_VERSION = 1;

/** `PAPR_PMEM_UNARMED_MASK`. */
const UNARMED_MASK = HEALTH.UNARMED | HEALTH.HEALTH_UNHEALTHY;
/** `PAPR_PMEM_SMART_EVENT_MASK`. */
const SMART_EVENT_MASK = HEALTH.HEALTH_CRITICAL | HEALTH.HEALTH_FATAL | HEALTH.HEALTH_UNHEALTHY;

/** One performance statistic as the hypervisor returned it. */
export interface PerfStat {
  /** 8-character id, e.g. `MedRCnt ` (trailing spaces kept). */
  id: string;
  /** Its value: a count or a duration, depending on the id. */
  value: bigint;
}

/** A sysfs read that failed; `errno` is negative. */
export class SysfsError extends Error {
  readonly errno: number;
  constructor(attribute: string, errno: number) {
    super(`reading papr/${attribute} failed: ${ERRNO[-errno] ?? errno} (${errno})`);
    this.name = "SysfsError";
    this.errno = errno;
  }
}

const hex16 = (v: bigint) => BigInt.asUintN(64, v).toString(16).toUpperCase().padStart(16, "0");

/** Linux mainline papr_scm. */
export class PaprScmMainline extends PaprScm54 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "mainline";
  /** `ibm,pmemory-v2` came with the flush hcall support. */
  static override readonly compatible: readonly string[] = ["ibm,pmemory", "ibm,pmemory-v2"];

  /** `ibm,hcall-flush-required`: the region flushes by H_SCM_FLUSH. */
  hcallFlushRequired = false;
  /** `ibm,persistence-failed-count`. */
  dirtyShutdownCounter = 0n;
  /** Bytes the hypervisor needs for all statistics; 0 when it has none. */
  statBufferLen = 0;
  /** Last health bitmap read (r4 & r5). */
  healthBitmap = 0n;
  #healthUnimplementedLogged = false;

  /** The 5.4 properties plus `ibm,hcall-flush-required` and `ibm,persistence-failed-count`. */
  protected override readProperties(): number {
    const rc = super.readProperties();
    if (rc) return rc;
    const { node } = this.pdev;
    this.hcallFlushRequired = readBool(node, "ibm,hcall-flush-required");
    this.dirtyShutdownCounter = readU64(node, "ibm,persistence-failed-count") ?? 0n;
    return 0;
  }

  /** The 5.5 fix: the whole area, last byte included, is in range. */
  protected override metaOutOfRange(offset: number, length: number): boolean {
    return offset + length > this.metadataSize;
  }

  /** Probe order after the bind: stats size query, health, then the nvdimm. */
  protected override *registerNvdimm(): Task<void> {
    const size = yield* this.queryStats();
    if (size > 0) {
      this.statBufferLen = size;
      this.dev("debug", `Max perf-stat size ${size}-bytes`);
    }
    // papr_scm_nvdimm_init checks for an unarmed dimm; errors are ignored.
    yield* this.queryHealth();
    yield* super.registerNvdimm();
  }

  /**
   * `papr_nd_attributes`: `flags`, `perf_stats` (only when the hypervisor
   * has statistics), `dirty_shutdown` and `health_bitmap_inject`.
   */
  protected override sysfs(): Record<string, () => Task<string>> {
    const attrs: Record<string, () => Task<string>> = { flags: () => this.flagsText() };
    // papr_nd_attribute_visible hides perf_stats when the hypervisor has none.
    if (this.statBufferLen) attrs.perf_stats = () => this.perfStatsText();
    attrs.dirty_shutdown = () => done(`${this.dirtyShutdownCounter}\n`);
    attrs.health_bitmap_inject = () => done("0\n");
    return attrs;
  }

  /** Gives the dimm its health: the PAPR_PDSM_HEALTH answer of `papr_pdsm_health`. */
  protected override decorateDimm(dimm: Nvdimm): void {
    dimm.health = () => this.pdsmHealth();
  }

  /** Gives the region `papr_scm_pmem_flush` as `ndr_desc.flush` when `ibm,hcall-flush-required`. */
  protected override decorateRegion(region: Region): void {
    if (this.hcallFlushRequired) region.flush = () => this.flush();
  }

  /**
   * `__drc_pmem_query_health`: H_SCM_HEALTH, bitmap = r4 & r5. The kernel
   * caches the answer for 60 s in `drc_pmem_query_health`; the simulator
   * asks on every read so injected health shows at once.
   */
  *queryHealth(): Task<number> {
    const r = yield* this.hcall(OP.H_SCM_HEALTH, BigInt(this.drcIndex));
    let bitmap = 0n;
    if (r.rc === H.SUCCESS) {
      bitmap = r.rets[0] & r.rets[1];
    } else if (r.rc === H.FUNCTION) {
      if (!this.#healthUnimplementedLogged) {
        this.#healthUnimplementedLogged = true;
        this.dev("info", "Hcall H_SCM_HEALTH not implemented, assuming empty health bitmap");
      }
    } else {
      this.dev("err", `Failed to query health information, Err:${r.rc}`);
      return -ENXIO;
    }
    this.healthBitmap = bitmap;
    this.dev(
      "debug",
      `Queried dimm health info. Bitmap:0x${hex16(r.rets[0])} Mask:0x${hex16(r.rets[1])}`,
    );
    return 0;
  }

  /** `flags_show`: the words of `papr/flags`, each followed by a space, then a newline. */
  *flagsText(): Task<string> {
    const rc = yield* this.queryHealth();
    if (rc) throw new SysfsError("flags", rc);
    const words = flagsWords(this.healthBitmap);
    return words ? `${words}\n` : "";
  }

  /** `papr_pdsm_health` (a fresh query), as libndctl's papr ops turn it into -H output. */
  *pdsmHealth(): Task<DimmHealth> {
    if (yield* this.queryHealth()) return { health_state: "unknown", flags: [] };
    const h = this.healthBitmap;
    // The kernel's dimm_health: FATAL, CRITICAL, UNHEALTHY, else healthy;
    // libndctl maps UNHEALTHY to non-critical. HEALTH_NON_CRITICAL maps to nothing.
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
      shutdown_count: Number(BigInt.asUintN(32, this.dirtyShutdownCounter)),
      flags: dimmFlags(flagsWords(h)),
    };
    const gauge = yield* this.fuelGauge();
    // dimm_fuel_gauge is a u16; ndctl prints 100 - gauge as an int.
    if (gauge !== undefined) health.life_used_percentage = (100 - Number(gauge & 0xFFFFn)) | 0;
    return health;
  }

  /**
   * `drc_pmem_query_stats`. Without a buffer: the size the hypervisor needs
   * (or a negative errno). With one: fills it (every statistic when
   * `numStats` is 0, else the ids already in it) and returns 0 or an errno.
   */
  *queryStats(buffer?: bigint, numStats = 0): Task<number> {
    let size = 0;
    if (buffer !== undefined) {
      size = numStats ? STATS_HEADER + numStats * STAT_ENTRY : this.statBufferLen;
      const head = dataView(this.#ram().view(buffer, STATS_HEADER));
      for (let i = 0; i < 8; i++) head.setUint8(i, EYECATCHER.charCodeAt(i));
      head.setUint32(8, STATS_VERSION);
      head.setUint32(12, numStats);
    }
    const r = yield* this.hcall(
      OP.H_SCM_PERFORMANCE_STATS,
      BigInt(this.drcIndex),
      buffer ?? 0n,
      BigInt(size),
    );
    if (r.rc === H.PARTIAL) {
      this.dev("err", `Unknown performance stats, Err:0x${hex16(r.rets[0])}`);
      return -ENOENT;
    } else if (r.rc === H.AUTHORITY) {
      this.dev("info", "Permission denied while accessing performance stats");
      return -EPERM;
    } else if (r.rc === H.UNSUPPORTED) {
      this.dev("debug", "Performance stats unsupported");
      return -EOPNOTSUPP;
    } else if (r.rc !== H.SUCCESS) {
      this.dev("err", `Failed to query performance stats, Err:${r.rc}`);
      return -EIO;
    } else if (!size) {
      this.dev("debug", `Performance stats size ${r.rets[0]}`);
      return Number(r.rets[0]);
    }
    const count = dataView(this.#ram().view(buffer!, STATS_HEADER)).getUint32(12);
    this.dev("debug", `Performance stats returned ${count} stats`);
    return 0;
  }

  /** Every statistic, as `perf_stats_show` fetches them; a negative errno on failure. */
  *readStats(): Task<PerfStat[] | number> {
    if (!this.statBufferLen) return -ENOENT;
    const ram = this.kernel.memory;
    if (!ram) return -ENOMEM;
    const buffer = ram.alloc(this.statBufferLen);
    try {
      const rc = yield* this.queryStats(buffer, 0);
      if (rc) return rc;
      return parseStats(ram.view(buffer, this.statBufferLen));
    } finally {
      ram.free(buffer);
    }
  }

  /** `perf_stats_show`: one `%.8s = 0x%016llX` line per statistic. */
  *perfStatsText(): Task<string> {
    const stats = yield* this.readStats();
    if (typeof stats === "number") throw new SysfsError("perf_stats", stats);
    return stats.map((s) => `${s.id.split("\0")[0]} = 0x${hex16(s.value)}\n`).join("");
  }

  /** `papr_pdsm_fuel_gauge`: the `MemLife ` statistic alone, or undefined. */
  *fuelGauge(): Task<bigint | undefined> {
    const ram = this.kernel.memory;
    if (!this.statBufferLen || !ram) return undefined;
    const size = STATS_HEADER + STAT_ENTRY;
    const buffer = ram.alloc(size);
    try {
      const entry = ram.view(buffer + BigInt(STATS_HEADER), STAT_ENTRY);
      for (let i = 0; i < 8; i++) entry[i] = "MemLife ".charCodeAt(i);
      if ((yield* this.queryStats(buffer, 1)) < 0) return undefined;
      return dataView(ram.view(buffer, size)).getBigUint64(STATS_HEADER + 8);
    } finally {
      ram.free(buffer);
    }
  }

  /** `papr_scm_pmem_flush`: H_SCM_FLUSH until done, sleeping on long busy; the final rc. */
  *flush(): Task<number> {
    const drc = `0x${this.drcIndex.toString(16)}`;
    this.dev("debug", `flush drc ${drc}`);
    const rc = yield* this.untilDone(
      (token) => this.hcall(OP.H_SCM_FLUSH, BigInt(this.drcIndex), token),
      true,
    );
    if (rc) this.dev("err", `flush error: ${rc}`);
    else this.dev("debug", `flush drc ${drc} complete`);
    return rc;
  }

  #ram() {
    const ram = this.kernel.memory;
    if (!ram) throw new Error("this partition has no real memory for hypervisor buffers");
    return ram;
  }
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

/** Parses an SCMSTATS buffer (header, then `count` entries). */
export function parseStats(bytes: Uint8Array): PerfStat[] {
  const view = dataView(bytes);
  const count = view.getUint32(12);
  const out: PerfStat[] = [];
  for (let i = 0; i < count; i++) {
    const at = STATS_HEADER + i * STAT_ENTRY;
    if (at + STAT_ENTRY > bytes.length) break;
    const id = String.fromCharCode(...bytes.subarray(at, at + 8));
    out.push({ id, value: view.getBigUint64(at + 8) });
  }
  return out;
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
