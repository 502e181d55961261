/**
 * `ndctl list` as ndctl prints it: the same objects, keys in ndctl's order,
 * json-c's pretty layout (`"key":value`, two-space indent), the options and
 * filters of ndctl/list.c and ndctl/filter.c, and the values of
 * ndctl/json.c and util/json.c (ndctl v81): sizes as numbers, or with `-u`
 * as `display_size` writes them, hex with `-u` as `%#llx`.
 * @module
 */
import type { DimmHealth, Libnvdimm, Namespace, Nvdimm, NvdimmBus, Region } from "./libnvdimm.ts";
import { availableSize, blockDevice, maxAvailableExtent } from "./labels/namespaces.ts";
import type { Task } from "./task.ts";

/** A JSON value that may hold 64-bit integers. */
export type Json = string | number | bigint | boolean | null | Json[] | { [key: string]: Json };

/** Which objects to list and how, as ndctl's options select them. */
export interface NdctlListFlags {
  /** `-R`: regions. */
  regions?: boolean;
  /** `-D`: dimms. */
  dimms?: boolean;
  /** `-H`: health of dimms. */
  health?: boolean;
  /** `-N`: namespaces (nested in their region when `-R` is given too). */
  namespaces?: boolean;
  /** `-B`: buses, with what else is listed nested in them. */
  buses?: boolean;
  /** `-i`: include idle (disabled, zero-size) devices. */
  idle?: boolean;
  /** `-u`: human sizes and hex numbers. */
  human?: boolean;
  /** `-M`: media errors (none are modelled, so nothing is added). */
  mediaErrors?: boolean;
  /** `-F`: firmware (papr dimms have no firmware command, so nothing is added). */
  firmware?: boolean;
  /** `-v` count (1 to 2): more detail, `numa_node` and `target_node`, `raw_uuid`. */
  verbose?: number;
  /** `-b`/`--bus` filter. */
  bus?: string;
  /** `-r`/`--region` filter. */
  region?: string;
  /** `-d`/`--dimm` filter. */
  dimm?: string;
  /** `-n`/`--namespace` filter. */
  namespace?: string;
  /** `-m`/`--mode` filter. */
  mode?: string;
}

const BOOLEANS: Readonly<Record<string, keyof NdctlListFlags>> = {
  R: "regions",
  D: "dimms",
  H: "health",
  N: "namespaces",
  B: "buses",
  i: "idle",
  u: "human",
  M: "mediaErrors",
  F: "firmware",
};
const LONG_BOOLEANS: Readonly<Record<string, keyof NdctlListFlags>> = {
  "--regions": "regions",
  "--dimms": "dimms",
  "--health": "health",
  "--namespaces": "namespaces",
  "--buses": "buses",
  "--idle": "idle",
  "--human": "human",
  "--media-errors": "mediaErrors",
  "--firmware": "firmware",
};
type Filter = "bus" | "region" | "dimm" | "namespace" | "mode";
const VALUED: Readonly<Record<string, Filter>> = {
  b: "bus",
  r: "region",
  d: "dimm",
  n: "namespace",
  m: "mode",
};
const LONG_VALUED: Readonly<Record<string, Filter>> = {
  "--bus": "bus",
  "--region": "region",
  "--dimm": "dimm",
  "--namespace": "namespace",
  "--mode": "mode",
};
const MODES = ["memory", "fsdax", "sector", "safe", "dax", "devdax", "raw"];

function accepted(): string {
  return "accepted: -R -D -H -N -B -i -u -M -F -v (combinable, e.g. -RDu), " +
    "-r/--region, -d/--dimm, -n/--namespace, -m/--mode, -b/--bus <id>, and their long names";
}

/**
 * Parses `ndctl list` options as ndctl takes them (`-R -D`, `-RDu`,
 * `--regions`, `-r region0`, `--mode=fsdax`, `-vv`; a leading `list` is
 * allowed). Throws RangeError naming what is accepted.
 * @example
 * ```ts
 * import { parseNdctlArgs } from "./ndctl.ts";
 * parseNdctlArgs(["list", "-RDu", "-r", "0"]); // { regions: true, dimms: true, human: true, region: "0" }
 * ```
 */
export function parseNdctlArgs(args: readonly string[]): NdctlListFlags {
  const flags: NdctlListFlags = {};
  const rest = args[0] === "list" ? args.slice(1) : [...args];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const [long, inline] = arg.startsWith("--") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    if (long in LONG_BOOLEANS && inline === undefined) {
      flags[LONG_BOOLEANS[long]] = true as never;
    } else if (long === "--verbose" && inline === undefined) {
      flags.verbose = (flags.verbose ?? 0) + 1;
    } else if (long in LONG_VALUED) {
      const value = inline ?? rest[++i];
      if (value === undefined) throw new RangeError(`ndctl list: ${long} needs a value`);
      flags[LONG_VALUED[long]] = value;
    } else if (/^-[A-Za-z]+/.test(arg) && !arg.startsWith("--")) {
      for (let k = 1; k < arg.length; k++) {
        const c = arg[k];
        if (c in BOOLEANS) flags[BOOLEANS[c]] = true as never;
        else if (c === "v") flags.verbose = (flags.verbose ?? 0) + 1;
        else if (c in VALUED) {
          const value = k + 1 < arg.length ? arg.slice(k + 1) : rest[++i];
          if (value === undefined) throw new RangeError(`ndctl list: -${c} needs a value`);
          flags[VALUED[c]] = value;
          break;
        } else {
          throw new RangeError(`ndctl list: unsupported option "${arg}"; ${accepted()}`);
        }
      }
    } else {
      throw new RangeError(`ndctl list: unsupported option "${arg}"; ${accepted()}`);
    }
  }
  if ((flags.verbose ?? 0) > 2) {
    throw new RangeError(
      "ndctl list: -vvv (capabilities) is not modelled; accepted: -v or -vv",
    );
  }
  if (flags.mode !== undefined && !MODES.includes(flags.mode.toLowerCase())) {
    throw new RangeError(
      `ndctl list: invalid mode: '${flags.mode}'; accepted: ${MODES.join(", ")}`,
    );
  }
  return withDefaults(flags);
}

/** list.c: with no object flag, a filter selects its kind, else namespaces are listed. */
function withDefaults(flags: NdctlListFlags): NdctlListFlags {
  if (!flags.regions && !flags.dimms && !flags.namespaces && !flags.buses) {
    if (flags.bus) flags.buses = true;
    if (flags.region) flags.regions = true;
    if (flags.dimm) flags.dimms = true;
  }
  if (!flags.regions && !flags.dimms && !flags.namespaces && !flags.buses) {
    flags.namespaces = true;
  }
  return flags;
}

/** The effective listing after `-v` (list.c's verbose switch). */
function effective(flags: NdctlListFlags): NdctlListFlags {
  const f = withDefaults({ ...flags });
  const v = f.verbose ?? 0;
  if (v >= 2) f.dimms = f.buses = f.regions = true;
  if (v >= 1) f.mediaErrors = f.namespaces = true;
  return f;
}

const SZ_1K = 1024n, SZ_1M = 1n << 20n, SZ_1G = 1n << 30n, SZ_1T = 1n << 40n;

function cents(v: bigint): string {
  return `${v / 100n}.${(v % 100n).toString().padStart(2, "0")}`;
}

/** util/json.c `display_size`: bytes, or `"x.xx MiB (y.yy MB)"` from 5000 KiB on. */
export function humanSize(bytes: bigint): Json {
  if (bytes < 5000n * SZ_1K) return bytes;
  let iec: string, jedec: string;
  if (bytes < 2n * SZ_1G) {
    iec = `${cents((bytes * 200n / SZ_1M + 1n) / 2n)} MiB`;
    jedec = `${cents((bytes / (1000000n / 200n) + 1n) / 2n)} MB`;
  } else if (bytes < 2n * SZ_1T) {
    iec = `${cents((bytes * 200n / SZ_1G + 1n) / 2n)} GiB`;
    jedec = `${cents((bytes / (1000000000n / 200n) + 1n) / 2n)} GB`;
  } else {
    iec = `${cents((bytes * 200n / SZ_1T + 1n) / 2n)} TiB`;
    jedec = `${cents((bytes / (1000000000000n / 200n) + 1n) / 2n)} TB`;
  }
  return `${iec} (${jedec})`;
}

function size(v: bigint, flags: NdctlListFlags): Json {
  return flags.human ? humanSize(v) : v;
}

/** `util_json_object_hex`: the number, or with `-u` `%#llx` (so 0 is "0"). */
function hex(v: bigint, flags: NdctlListFlags): Json {
  if (!flags.human) return v;
  const u = BigInt.asUintN(64, v);
  return u === 0n ? "0" : `0x${u.toString(16)}`;
}

/** The region alignment ndctl lists (`align`, 16 MiB on a POWER guest). */
export const REGION_ALIGN = 16777216n;

/** The cookie `set_cookie` shows: v1.1 labels use cookie1, anything else cookie2. */
export function regionCookie(region: Region): bigint {
  return region.dimm.ndd?.minor === 1 ? region.cookie1 ?? region.isetId : region.isetId;
}

function enabled(x: { enabled?: boolean }): boolean {
  return x.enabled !== false;
}

/**
 * One region as `ndctl list -R` shows it (`region_to_json`). With `-D`,
 * its `mappings` follow `iset_id`; its namespaces are added by the listing.
 */
export function regionJson(region: Region, flags: NdctlListFlags = {}): Record<string, Json> {
  const out: Record<string, Json> = {
    dev: region.dev,
    size: size(region.size, flags),
    // The region's align attribute exists from Linux 5.7; ndctl omits what is absent.
    ...(region.align === undefined ? {} : { align: size(region.align, flags) }),
    available_size: size(availableSize(region), flags),
    max_available_extent: size(maxAvailableExtent(region), flags),
    type: region.volatile ? "volatile" : "pmem",
  };
  if ((flags.verbose ?? 0) > 0) {
    out.numa_node = 0;
    out.target_node = 0;
  }
  out.iset_id = hex(regionCookie(region), flags);
  if (flags.dimms && dimmPasses(region.dimm, flags) && (flags.idle || enabled(region.dimm))) {
    out.mappings = [{
      dimm: region.dimm.dev,
      offset: hex(0n, flags),
      length: hex(region.size, flags),
      position: 0,
    }];
  }
  if (!enabled(region)) out.state = "disabled";
  out.persistence_domain = region.persistenceDomain;
  return out;
}

/**
 * One namespace as `util_namespace_to_json` shows it: an fsdax one by its
 * pfn device (its size past the info block and memmap, the pfn's uuid, its
 * alignment), a raw one by itself; `blockdev` only while enabled.
 */
export function namespaceJson(
  region: Region,
  ns: Namespace,
  flags: NdctlListFlags = {},
): Record<string, Json> {
  const out: Record<string, Json> = { dev: ns.dev };
  const verbose = (flags.verbose ?? 0) > 0;
  if (ns.pfn) {
    out.mode = "fsdax";
    out.map = "dev";
    if (ns.enabled) out.size = size(ns.size - ns.pfn.dataoff, flags);
    out.uuid = ns.pfn.uuid;
    if (verbose && ns.uuid) out.raw_uuid = ns.uuid;
  } else {
    out.mode = "raw";
    out.size = size(ns.size, flags);
    out.uuid = ns.uuid ?? "00000000-0000-0000-0000-000000000000";
  }
  out.sector_size = ns.lbasize || 512;
  if (ns.pfn) out.align = ns.pfn.align;
  if (ns.enabled) out.blockdev = blockDevice(region, ns);
  else out.state = "disabled";
  if (ns.name) out.name = ns.name;
  if (verbose) {
    out.numa_node = 0;
    out.target_node = 0;
  }
  return out;
}

/** The dimm flag keys, in the order `util_dimm_to_json` adds them. */
const DIMM_FLAG_ORDER = [
  "flag_failed_map",
  "flag_failed_save",
  "flag_failed_arm",
  "flag_failed_restore",
  "flag_failed_flush",
  "flag_smart_event",
] as const;

/** libndctl's `parse_papr_flags`: the `papr/flags` words it turns into dimm flags. */
const PAPR_FLAG_WORDS: Readonly<Record<string, string>> = {
  not_armed: "flag_failed_arm",
  flush_fail: "flag_failed_flush",
  restore_fail: "flag_failed_restore",
  smart_notify: "flag_smart_event",
  save_fail: "flag_failed_save",
};

/** The dimm's true flags, read from its `papr/flags` file as libndctl does. */
export function* dimmFlagKeys(dimm: Nvdimm): Task<string[]> {
  let text = "";
  try {
    const flags = dimm.papr.flags;
    if (flags) text = yield* flags();
  } catch {
    // An unreadable flags file leaves every flag clear.
  }
  const set = new Set(text.split(" ").map((w) => PAPR_FLAG_WORDS[w]).filter(Boolean));
  return DIMM_FLAG_ORDER.filter((k) => set.has(k));
}

/** `-H`: the health object in `util_dimm_health_to_json`'s key order. */
export function healthJson(health: DimmHealth): Record<string, Json> {
  const out: Record<string, Json> = { health_state: health.health_state };
  if (health.health_state === "unknown") return out;
  if (health.life_used_percentage !== undefined) {
    out.life_used_percentage = health.life_used_percentage;
  }
  if (health.shutdown_state !== undefined) out.shutdown_state = health.shutdown_state;
  if (health.shutdown_count !== undefined) out.shutdown_count = health.shutdown_count;
  return out;
}

/**
 * One dimm as `ndctl list -D` shows it (`util_dimm_to_json`): `dev`, `state`
 * when disabled, then only the flags that are true; papr dimms have no id,
 * handle, phys_id, security or firmware. With `-H`, `health` follows when
 * the driver reports health.
 */
export function* dimmJson(dimm: Nvdimm, flags: NdctlListFlags = {}): Task<Record<string, Json>> {
  const out: Record<string, Json> = { dev: dimm.dev };
  if (!enabled(dimm)) out.state = "disabled";
  for (const key of yield* dimmFlagKeys(dimm)) out[key] = true;
  if (flags.health && dimm.health) out.health = healthJson(yield* dimm.health());
  return out;
}

/** `util_bus_to_json`: papr buses have no scrub state and no firmware activation. */
export function busJson(bus: NvdimmBus): Record<string, Json> {
  return { provider: bus.provider, dev: bus.dev };
}

/** `strtoul(ident, &end, 0)`: a whole number (decimal, 0x hex, 0 octal), else undefined. */
function idOf(text: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text, 16);
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8);
  if (/^[0-9]+$/.test(text)) return parseInt(text, 10);
  return undefined;
}

function words(ident: string | undefined): string[] | undefined {
  return ident === undefined ? undefined : ident.split(" ").filter(Boolean);
}

function devId(dev: string, prefix: string): number {
  return Number(dev.slice(prefix.length));
}

/** `util_bus_filter`: "all", the bus number, `ndbusN` or the provider. */
export function busPasses(bus: NvdimmBus, ident?: string): boolean {
  const names = words(ident);
  if (!names) return true;
  return names.some((n) =>
    n === "all" || idOf(n) === devId(bus.dev, "ndbus") ||
    (idOf(n) === undefined && (n === bus.provider || n === bus.dev))
  );
}

/** `util_region_filter`: "all", the region number or `regionN`. */
function regionPasses(region: Region, ident?: string): boolean {
  const names = words(ident);
  if (!names) return true;
  return names.some((n) =>
    n === "all" || (idOf(n) ?? -1) === devId(region.dev, "region") ||
    (idOf(n) === undefined && n === region.dev)
  );
}

/** `util_dimm_filter`: "all", the dimm number or `nmemN`. */
function dimmPasses(dimm: Nvdimm, flags: NdctlListFlags): boolean {
  const names = words(flags.dimm);
  if (!names) return true;
  return names.some((n) =>
    n === "all" || (idOf(n) ?? -1) === devId(dimm.dev, "nmem") ||
    (idOf(n) === undefined && n === dimm.dev)
  );
}

/** `util_namespace_filter`: "all", `namespaceR.N` or `R.N`. */
function namespacePasses(region: Region, ns: Namespace, ident?: string): boolean {
  const names = words(ident);
  if (!names) return true;
  const r = devId(region.dev, "region");
  return names.some((n) => n === "all" || n === ns.dev || n === `${r}.${ns.id}`);
}

function modeOf(ns: Namespace): string {
  return ns.pfn ? "fsdax" : "raw";
}

/** `util_nsmode`. */
function modePasses(ns: Namespace, mode?: string): boolean {
  if (mode === undefined) return true;
  const m = mode.toLowerCase();
  const want = m === "memory" ? "fsdax" : m === "safe" ? "sector" : m === "dax" ? "devdax" : m;
  return modeOf(ns) === want;
}

/** ndctl's `ndctl_namespace_is_active`: enabled (or claimed by an enabled pfn). */
function listedNamespace(ns: Namespace, flags: NdctlListFlags): boolean {
  return ns.enabled || !!flags.idle;
}

/**
 * The value `ndctl list` prints (list.c `cmd_list` through ndctl/filter.c's
 * walk and `list_display`): one array, or with several kinds an object of
 * them, or with `-B` the buses with the rest nested in them.
 */
export function* ndctlList(lib: Libnvdimm, given: NdctlListFlags): Task<Json> {
  const flags = effective(given);
  let jbuses: Json[] | undefined;
  let jdimms: Json[] | undefined;
  let jregions: Json[] | undefined;
  let jnamespaces: Json[] | undefined;
  for (const bus of lib.buses) {
    const dimms = bus.dimm ? [bus.dimm] : [];
    const regions = bus.region ? [bus.region] : [];
    if (!busPasses(bus, flags.bus)) continue;
    if (flags.dimm && !dimms.some((d) => dimmPasses(d, flags))) continue;
    if (flags.region && !regions.some((r) => regionPasses(r, flags.region))) continue;
    if (
      flags.namespace && flags.namespace !== "all" &&
      !regions.some((r) => (r.namespaces ?? []).some((n) => namespacePasses(r, n, flags.namespace)))
    ) continue;
    let jbus: Record<string, Json> | undefined;
    if (jbuses) jdimms = jregions = jnamespaces = undefined;
    if (flags.buses) {
      jbuses ??= [];
      jbus = busJson(bus);
      jbuses.push(jbus);
    }
    if (flags.dimms) {
      for (const dimm of dimms) {
        if (!dimmPasses(dimm, flags)) continue;
        if (
          flags.region && !regions.some((r) => r.dimm === dimm && regionPasses(r, flags.region))
        ) {
          continue;
        }
        if (!flags.idle && !enabled(dimm)) continue;
        if (!jdimms) {
          jdimms = [];
          if (jbus) jbus.dimms = jdimms;
        }
        jdimms.push(yield* dimmJson(dimm, flags));
      }
    }
    for (const region of regions) {
      if (!regionPasses(region, flags.region)) continue;
      if (flags.dimm && !dimmPasses(region.dimm, flags)) continue;
      const namespaces = region.namespaces ?? [];
      if (
        flags.namespace && flags.namespace !== "all" &&
        !namespaces.some((n) => namespacePasses(region, n, flags.namespace))
      ) continue;
      let jregion: Record<string, Json> | undefined;
      if (flags.regions) {
        if (!flags.idle && !enabled(region)) continue;
        if (!jregions) {
          jregions = [];
          if (jbus) jbus.regions = jregions;
        }
        jregion = regionJson(region, flags);
        jregions.push(jregion);
        jnamespaces = undefined;
      }
      if (!flags.namespaces) continue;
      for (const ns of namespaces) {
        if (!namespacePasses(region, ns, flags.namespace) || !modePasses(ns, flags.mode)) continue;
        if (!listedNamespace(ns, flags)) continue;
        if (!jnamespaces) {
          jnamespaces = [];
          const container = jregion ?? jbus;
          if (container) container.namespaces = jnamespaces;
        }
        jnamespaces.push(namespaceJson(region, ns, flags));
      }
    }
  }
  if (jbuses) return display(jbuses, flags);
  const kinds = Number(!!jdimms) + Number(!!jregions) + Number(!!jnamespaces);
  if (kinds > 1) {
    const out: Record<string, Json> = {};
    if (jdimms) out.dimms = jdimms;
    if (jregions) out.regions = jregions;
    if (jnamespaces && !jregions) out.namespaces = jnamespaces;
    return out;
  }
  return display(jdimms ?? jregions ?? jnamespaces ?? [], flags);
}

/** `util_display_json_array`: with `-u`, a list of one is printed as its object. */
function display(list: Json[], flags: NdctlListFlags): Json {
  return flags.human && list.length === 1 ? list[0] : list;
}

/** What `ndctl list` prints: nothing at all when nothing matched. */
export function formatNdctl(value: Json): string {
  return Array.isArray(value) && value.length === 0 ? "" : formatJson(value);
}

/** Formats a value as json-c's pretty printer does (ndctl's output). */
export function formatJson(value: Json, indent = ""): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[\n]";
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{\n}";
  const body = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}:${formatJson(v, inner)}`);
  return `{\n${body.join(",\n")}\n${indent}}`;
}
