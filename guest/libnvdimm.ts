/**
 * A small libnvdimm: the buses, dimms and regions a driver registers, named
 * and numbered as the kernel names them (`ndbusN`, `nmemN`, `regionN`).
 * @module
 */

/** A dimm (`nmemN`). */
export interface Nvdimm {
  dev: string;
  /** Provider's DRC index. */
  drcIndex: number;
  /** Driver-provided sysfs attributes under `papr/` (flags, perf_stats, ...). */
  papr: Record<string, () => string>;
  /** Health as ndctl reads it, when the driver provides it. */
  health?: () => DimmHealth;
}

/** What `ndctl list -H` shows of a dimm. */
export interface DimmHealth {
  health_state: "ok" | "non-critical" | "critical" | "fatal";
  shutdown_state: "clean" | "dirty";
  shutdown_count?: number;
  /** `flag_failed_*` and `flag_smart_event` words that are true. */
  flags: string[];
}

/** A region (`regionN`). */
export interface Region {
  dev: string;
  /** Physical (logical, for a guest) start address. */
  start: bigint;
  size: bigint;
  volatile: boolean;
  /** Interleave-set cookie (ndctl's `iset_id`), signed 64-bit. */
  isetId: bigint;
  persistenceDomain: "memory_controller" | "cpu_cache" | "none";
  dimm: Nvdimm;
}

/** A bus (`ndbusN`) with its one dimm and region, as papr_scm registers them. */
export interface NvdimmBus {
  dev: string;
  provider: string;
  dimm?: Nvdimm;
  region?: Region;
}

/** The registry of one running kernel. */
export class Libnvdimm {
  readonly buses: NvdimmBus[] = [];
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
}
