/**
 * A small libnvdimm: the buses, dimms and regions a driver registers, named
 * and numbered as the kernel names them (`ndbusN`, `nmemN`, `regionN`).
 * @module
 */
import type { Task } from "./task.ts";
import { DimmLabels } from "./labels/ndd.ts";
import { enableRegion } from "./labels/namespaces.ts";
import type { PfnInfo } from "./labels/pfn.ts";

/** A dimm (`nmemN`). */
export interface Nvdimm {
  /** Device name, `nmemN`. */
  dev: string;
  /** Provider's DRC index. */
  drcIndex: number;
  /** Driver-provided sysfs attributes under `papr/` (flags, perf_stats, ...). */
  papr: Record<string, () => Task<string>>;
  /** Health as ndctl reads it, when the driver provides it. */
  health?: () => Task<DimmHealth>;
  /** The label (config) area, when the driver implements the config commands. */
  label?: LabelOps;
  /** What the dimm driver read of the label area at probe (`nvdimm_drvdata`). */
  ndd?: DimmLabels;
  /** False when the dimm driver is not bound (its probe failed, or it was disabled). */
  enabled?: boolean;
}

/** A pmem namespace of a labelled region (`namespaceR.N`). */
export interface Namespace {
  /** Device name, `namespaceR.N`. */
  dev: string;
  /** N. */
  id: number;
  /** The namespace uuid (from its label); none for a seed or a deleted one. */
  uuid?: string;
  /** `alt_name`. */
  name: string;
  /** Where it starts on the dimm (and in the region: one mapping at 0). */
  dpa: bigint;
  /** Raw size in bytes (0: the seed, or deleted). */
  size: bigint;
  /** `lbasize` of its label (0: the 512-byte default). */
  lbasize: number;
  /** The claim its label records (v1.2 `abstraction_guid`). */
  claim: "none" | "pfn";
  /** Bound to the pmem driver. */
  enabled: boolean;
  /** The fsdax info block found on the media (or written by create). */
  pfn?: PfnInfo;
  /** Slot of its label in the label area. */
  labelSlot?: number;
}

/** Byte access to what regions map (the guest's DAX view of its SCM). */
export interface Media {
  /** Reads `length` bytes at a guest logical address. */
  read(addr: bigint, length: number): Uint8Array;
  /** Writes bytes at a guest logical address (a store: it lands in the CPU cache). */
  write(addr: bigint, bytes: Uint8Array): void;
  /** Writes the cache lines of a range back to the media (`memcpy_flushcache`'s effect). */
  writeBack?(addr: bigint, length: number): void;
}

/** What `ndctl list -H` shows of a dimm. */
export interface DimmHealth {
  /** `unknown` when the health command failed. */
  health_state: "ok" | "non-critical" | "critical" | "fatal" | "unknown";
  /** `dirty` when the health bitmap says the last shutdown did not flush. */
  shutdown_state?: "clean" | "dirty";
  /** The dirty-shutdown counter (`ibm,persistence-failed-count`). */
  shutdown_count?: number;
  /** 100 minus the fuel gauge, when the driver could read one (MemLife). */
  life_used_percentage?: number;
  /** `flag_failed_*` and `flag_smart_event` words that are true. */
  flags: string[];
}

/**
 * A driver's ND_CMD_GET_CONFIG_SIZE / GET_CONFIG_DATA / SET_CONFIG_DATA.
 * `get` and `set` serve one command (at most `maxXfer` bytes) and return 0
 * or a negative errno, as the driver's `cmd_rc`.
 */
export interface LabelOps {
  /** `config_size`: bytes in the label area. */
  size: number;
  /** `max_xfer`: most bytes one command moves. */
  maxXfer: number;
  /** One GET_CONFIG_DATA: reads `out.length` bytes at `offset` into `out`. */
  get(offset: number, out: Uint8Array): Task<number>;
  /** One SET_CONFIG_DATA: writes `data` at `offset`. */
  set(offset: number, data: Uint8Array): Task<number>;
  /**
   * Test only (crash exploration's broken variant, `crash/index_first_driver.ts`):
   * libnvdimm writes a namespace update's index block before its label slot.
   * No kernel does this; real drivers leave it unset.
   */
  indexBeforeLabel?: boolean;
}

/** Linux errno names the drivers return. */
export const ERRNO: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  6: "ENXIO",
  12: "ENOMEM",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  25: "ENOTTY",
  28: "ENOSPC",
  95: "EOPNOTSUPP",
};

/** What a label read or write ended in: 0 or a negative errno, and the bytes read. */
export interface LabelResult {
  /** 0 on success, else a negative errno. */
  rc: number;
  /** Errno name when rc < 0, e.g. `EINVAL`. */
  error?: string;
  /** The bytes read (reads that succeeded only). */
  data?: Uint8Array;
}

function labelError(rc: number): LabelResult {
  return { rc, error: ERRNO[-rc] ?? String(rc) };
}

/** A region (`regionN`). */
export interface Region {
  /** Device name, `regionN`. */
  dev: string;
  /** Physical (logical, for a guest) start address. */
  start: bigint;
  /** Size in bytes. */
  size: bigint;
  /** Created as a volatile region (`nvdimm_volatile_region_create`), not a pmem one. */
  volatile: boolean;
  /** Interleave-set cookie (ndctl's `iset_id`), signed 64-bit. */
  isetId: bigint;
  /** Where writes become persistent, as ndctl's `persistence_domain` shows it. */
  persistenceDomain: "memory_controller" | "cpu_cache" | "none" | "unknown";
  /** The `align` attribute (bytes), from Linux 5.7 (2522afb86a8c); absent before. */
  align?: bigint;
  /** Read-only: a dimm of the region is unarmed (`nd_region_create`), from papr_scm 5.13. */
  readOnly?: boolean;
  /** The region's one dimm (its mapping). */
  dimm: Nvdimm;
  /**
   * The provider's flush (`ndr_desc.flush`), for regions that need an hcall
   * to reach persistence; returns the final hcall return code.
   */
  flush?: () => Task<number>;
  /** The region driver is bound (set by the probe; undefined before any). */
  enabled?: boolean;
  /** Its namespaces while enabled, the seed last. */
  namespaces?: Namespace[];
  /** The zero-size namespace the next create configures. */
  seed?: Namespace;
  /** Id the next namespace device gets. */
  nextNsId?: number;
  /** `nd_set->cookie1` (first half of the unit GUID): the cookie of v1.1 labels. */
  cookie1?: bigint;
}

/** A bus (`ndbusN`) with its one dimm and region, as papr_scm registers them. */
export interface NvdimmBus {
  /** Device name, `ndbusN`. */
  dev: string;
  /** `provider_name`: the registering device's name. */
  provider: string;
  /** The bus's dimm, once created. */
  dimm?: Nvdimm;
  /** The bus's region, once created. */
  region?: Region;
}

/** The registry of one running kernel. */
export class Libnvdimm {
  /** Registered buses, in registration order. */
  readonly buses: NvdimmBus[] = [];
  /** What regions map, for the namespace probes' info blocks (none: every namespace is raw). */
  media?: Media;
  /** printk of the kernel this runs in. */
  log: (text: string) => void = () => {};
  #nextBus = 0;
  #nextDimm = 0;
  #nextRegion = 0;

  /** Registers a bus for a provider. */
  registerBus(provider: string): NvdimmBus {
    const bus: NvdimmBus = { dev: `ndbus${this.#nextBus++}`, provider };
    this.buses.push(bus);
    return bus;
  }

  /** Creates the bus's dimm. */
  createDimm(bus: NvdimmBus, dimm: Omit<Nvdimm, "dev">): Nvdimm {
    bus.dimm = { ...dimm, dev: `nmem${this.#nextDimm++}` };
    return bus.dimm;
  }

  /** Creates the bus's region. */
  createRegion(bus: NvdimmBus, region: Omit<Region, "dev">): Region {
    bus.region = { ...region, dev: `region${this.#nextRegion++}` };
    return bus.region;
  }

  /** Unregisters a bus and everything on it. */
  unregisterBus(bus: NvdimmBus): void {
    const i = this.buses.indexOf(bus);
    if (i >= 0) this.buses.splice(i, 1);
  }

  /** Every region, in registration order. */
  get regions(): Region[] {
    return this.buses.flatMap((b) => (b.region ? [b.region] : []));
  }

  /** Every dimm, in registration order. */
  get dimms(): Nvdimm[] {
    return this.buses.flatMap((b) => (b.dimm ? [b.dimm] : []));
  }

  /** A region by `regionN` name or by its dimm's DRC index. */
  findRegion(key: string | number): Region | undefined {
    return this.regions.find((r) => r.dev === key || r.dimm.drcIndex === key);
  }

  /** A dimm by `nmemN` name, by its region's `regionN` name, or by DRC index. */
  findDimm(key: string | number): Nvdimm | undefined {
    return this.dimms.find((d) => d.dev === key || d.drcIndex === key) ??
      this.findRegion(key)?.dimm;
  }

  /**
   * The bus's devices probe once their provider registered them
   * (`nd_device_register`): the dimm driver reads the label area
   * (`nvdimm_probe` → `nd_label_data_init`), then the region driver scans its
   * labels into namespaces. A dimm probe that fails leaves the dimm and its
   * labelled region disabled; the driver core warns of errors other than
   * -ENODEV and -ENXIO. `unitGuid` gives the region its v1.1 cookie.
   */
  *probeBus(bus: NvdimmBus, unitGuid = ""): Task<void> {
    const dimm = bus.dimm, region = bus.region;
    if (dimm) {
      const rc = yield* this.probeDimm(dimm);
      if (rc < 0 && rc !== -19 && rc !== -6) {
        this.log(`nvdimm: probe of ${dimm.dev} failed with error ${rc}`);
      }
    }
    if (region) {
      region.cookie1 = firstHalfCookie(unitGuid);
      enableRegion(region, this.media);
    }
  }

  /** `nvdimm_probe`: reads the label area; 0 or a negative errno (the dimm is then disabled). */
  *probeDimm(dimm: Nvdimm): Task<number> {
    const label = dimm.label;
    dimm.ndd = undefined;
    if (!label) {
      dimm.enabled = true;
      return 0;
    }
    const ndd = new DimmLabels({
      size: label.size,
      maxXfer: label.maxXfer,
      indexBeforeLabel: label.indexBeforeLabel,
      get: (offset, length) => this.getConfigData(dimm, offset, length),
      set: (offset, data) => this.setConfigData(dimm, offset, data),
    });
    const rc = yield* ndd.init();
    dimm.enabled = rc === 0;
    if (rc === 0) dimm.ndd = ndd;
    return rc;
  }

  /**
   * `nvdimm_get_config_data`: checks the whole range against the config
   * size, then issues GET_CONFIG_DATA commands of at most `max_xfer` bytes.
   */
  *getConfigData(dimm: Nvdimm, offset: number, length: number): Task<LabelResult> {
    const label = dimm.label;
    if (!label) return labelError(-25);
    if (offset < 0 || length < 0 || offset + length > label.size) return labelError(-6);
    const data = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const chunk = Math.min(label.maxXfer, length - done);
      const rc = yield* label.get(offset + done, data.subarray(done, done + chunk));
      if (rc < 0) return labelError(rc);
      done += chunk;
    }
    return { rc: 0, data };
  }

  /** `nvdimm_set_config_data`: the same split for SET_CONFIG_DATA. */
  *setConfigData(dimm: Nvdimm, offset: number, data: Uint8Array): Task<LabelResult> {
    const label = dimm.label;
    if (!label) return labelError(-25);
    if (offset < 0 || offset + data.length > label.size) return labelError(-6);
    for (let done = 0; done < data.length;) {
      const chunk = Math.min(label.maxXfer, data.length - done);
      const rc = yield* label.set(offset + done, data.subarray(done, done + chunk));
      if (rc < 0) return labelError(rc);
      done += chunk;
    }
    return { rc: 0 };
  }
}

/** `nd_set->cookie1` as papr_scm makes it: the unit GUID's first eight bytes, little-endian. */
function firstHalfCookie(uuid: string): bigint | undefined {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  return BigInt.asIntN(64, v);
}
