/**
 * The ndctl commands that use the label area, as ndctl v81 runs them
 * (ndctl/namespace.c, ndctl/dimm.c, ndctl/region.c) against this kernel's
 * libnvdimm: `init-labels`, `read-labels -j`, `create-namespace`,
 * `destroy-namespace`, `enable-`/`disable-namespace`, `enable-`/`disable-region`,
 * and `list`. Each returns what ndctl prints on stdout and stderr and its
 * exit status; label reads and writes go through the dimm's config
 * commands, so through READ/WRITE_METADATA hcalls.
 *
 * @example
 * ```ts
 * import { ndctlRun } from "./ndctl_commands.ts";
 * import { Libnvdimm } from "./libnvdimm.ts";
 * import { runSync } from "./task.ts";
 * const out = runSync(ndctlRun({ lib: new Libnvdimm(), newUuid: () => "" }, ["list"]), () => {
 *   throw new Error("no hcall");
 * });
 * console.log(out); // { rc: 0, stdout: "", stderr: "" }
 * ```
 * @module
 */
import type { Libnvdimm, Media, Namespace, Nvdimm, Region } from "./libnvdimm.ts";
import { MachineCheck } from "../core/dax.ts";
import { ERRNO } from "./libnvdimm.ts";
import {
  decodeIndex,
  decodeLabel,
  encodeIndex,
  indexLayout,
  uuidBytes,
  validateIndexes,
} from "./labels/format.ts";
import {
  blockDevice,
  dimmActive,
  disableRegion,
  enableRegion,
  labelUpdate,
  maxAvailableExtent,
  probeNamespace,
  setSize,
  writePfnInfo,
} from "./labels/namespaces.ts";
import { fsdaxLayout } from "./labels/pfn.ts";
import {
  formatJson,
  formatNdctl,
  humanSize,
  type Json,
  namespaceJson,
  ndctlList,
  parseNdctlArgs,
} from "./ndctl.ts";
import type { Task } from "./task.ts";

/** What an ndctl command printed and its exit status (0, or a negative errno as ndctl returns). */
export interface NdctlOutput {
  /** 0 on success, else the negative errno ndctl's command returned. */
  rc: number;
  /** What it printed on stdout. */
  stdout: string;
  /** What it printed on stderr. */
  stderr: string;
}

/** What the commands need from the machine. */
export interface NdctlContext {
  /** The running kernel's libnvdimm. */
  lib: Libnvdimm;
  /** A fresh uuid (`uuid_generate`); the caller decides where its randomness comes from. */
  newUuid(): string;
}

/** The commands, as ndctl names them. */
export const NDCTL_COMMANDS = [
  "list",
  "init-labels",
  "read-labels",
  "create-namespace",
  "destroy-namespace",
  "enable-namespace",
  "disable-namespace",
  "enable-region",
  "disable-region",
] as const;

const STRERROR: Readonly<Record<string, string>> = {
  EBUSY: "Device or resource busy",
  ENOSPC: "No space left on device",
  ENXIO: "No such device or address",
  EINVAL: "Invalid argument",
  ENODEV: "No such device",
  EIO: "Input/output error",
  ENOMEM: "Cannot allocate memory",
  ENOTTY: "Inappropriate ioctl for device",
};

function strerror(rc: number): string {
  const name = ERRNO[-rc];
  return (name && STRERROR[name]) ?? `Unknown error ${-rc}`;
}

const EBUSY = -16, ENXIO = -6, ENOSPC = -28, EINVAL = -22, EAGAIN = -11, ENODEV = -19;

/** Options a command takes: name → takes a value. */
type Spec = Record<string, { long: string; value: boolean }>;

interface Parsed {
  opts: Record<string, string | true>;
  args: string[];
}

function parse(cmd: string, argv: readonly string[], spec: Spec): Parsed {
  const opts: Record<string, string | true> = {};
  const args: string[] = [];
  const byLong = new Map(Object.entries(spec).map(([s, o]) => [o.long, s]));
  const names = Object.entries(spec).map(([s, o]) => `-${s}/--${o.long}`).join(", ");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const [long, inline] = a.slice(2).split(/=(.*)/s, 2);
      const short = byLong.get(long);
      if (short === undefined) {
        throw new RangeError(`ndctl ${cmd}: unknown option "${a}"; accepted: ${names || "none"}`);
      }
      if (spec[short].value) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new RangeError(`ndctl ${cmd}: --${long} needs a value`);
        opts[short] = v;
      } else opts[short] = true;
    } else if (a.startsWith("-") && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k];
        if (!(c in spec)) {
          throw new RangeError(
            `ndctl ${cmd}: unknown option "-${c}"; accepted: ${names || "none"}`,
          );
        }
        if (spec[c].value) {
          const v = k + 1 < a.length ? a.slice(k + 1) : argv[++i];
          if (v === undefined) throw new RangeError(`ndctl ${cmd}: -${c} needs a value`);
          opts[c] = v;
          break;
        }
        opts[c] = true;
      }
    } else args.push(a);
  }
  return { opts, args };
}

function str(v: string | true | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** `__parse_size64`: a number with an optional K/M/G/T suffix, or undefined. */
export function parseSize(text: string): bigint | undefined {
  const m = /^(0x[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtT]?)$/.exec(text);
  if (!m) return undefined;
  const n = BigInt(
    m[1].startsWith("0") && !m[1].startsWith("0x") && m[1] !== "0" ? `0o${m[1].slice(1)}` : m[1],
  );
  const unit = { "": 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n }[
    m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"
  ];
  const v = n * unit;
  return v >= 1n << 64n ? undefined : v;
}

/** One ndctl run's output collected. */
class Out {
  stdout = "";
  stderr = "";
  errCount = 0;
  /** ndctl's `error()`: "  Error: ", the message (which ends in a newline), then a newline. */
  error(msg: string): void {
    this.stderr += `  Error: ${msg}\n`;
  }
  /** namespace.c's `err()`: counted, prefixed with the command name. */
  err(cmd: string, msg: string): void {
    this.errCount++;
    this.error(`${cmd}: ${msg}`);
  }
  done(rc: number): NdctlOutput {
    return { rc, stdout: this.stdout, stderr: this.stderr };
  }
}

/**
 * Runs one ndctl command line (`["create-namespace", "-s", "1G"]`). Bad
 * options throw a RangeError naming what is accepted; what ndctl itself
 * reports (a busy namespace, no space) comes back in the output.
 */
export function* ndctlRun(ctx: NdctlContext, argv: readonly string[]): Task<NdctlOutput> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "list":
      return yield* list(ctx, rest);
    case "init-labels":
      return yield* initLabels(ctx, rest);
    case "read-labels":
      return yield* readLabels(ctx, rest);
    case "create-namespace":
      return yield* createNamespace(ctx, rest);
    case "destroy-namespace":
      return yield* destroyNamespace(ctx, rest);
    case "enable-namespace":
    case "disable-namespace":
      return xableNamespace(ctx, cmd, rest);
    case "enable-region":
    case "disable-region":
      return xableRegion(ctx, cmd, rest);
    default:
      throw new RangeError(
        `ndctl: unknown command "${cmd}"; accepted: ${NDCTL_COMMANDS.join(", ")}`,
      );
  }
}

function* list(ctx: NdctlContext, rest: readonly string[]): Task<NdctlOutput> {
  const text = formatNdctl(yield* ndctlList(ctx.lib, parseNdctlArgs(rest)));
  return { rc: 0, stdout: text ? `${text}\n` : "", stderr: "" };
}

/** The dimms a dimm command names (`nmemN` or `all`), on the `--bus` filter. */
function selectDimms(ctx: NdctlContext, cmd: string, args: string[]): Nvdimm[] {
  if (args.length === 0) {
    throw new RangeError(`ndctl ${cmd}: name a dimm (nmemN) or "all"`);
  }
  for (const a of args) {
    if (a !== "all" && !/^nmem\d+$/.test(a)) {
      throw new RangeError(`ndctl ${cmd}: '${a}' is not a valid dimm name; accepted: nmemN, all`);
    }
  }
  return ctx.lib.dimms.filter((d) => args.includes("all") || args.includes(d.dev));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function* initLabels(ctx: NdctlContext, rest: readonly string[]): Task<NdctlOutput> {
  const { opts, args } = parse("init-labels", rest, {
    f: { long: "force", value: false },
    V: { long: "label-version", value: true },
    b: { long: "bus", value: true },
    v: { long: "verbose", value: false },
  });
  const version = str(opts.V) ?? "1.1";
  const labelSize = { "1.1": 128, "v1.1": 128, "1.2": 256, "v1.2": 256 }[version];
  const out = new Out();
  if (!labelSize) {
    out.stderr += `'${version}' is not a valid label version\n`;
    out.stderr += "initialized 0 nmems\n";
    return out.done(EINVAL);
  }
  let count = 0, firstErr = 0;
  for (const dimm of selectDimms(ctx, "init-labels", args)) {
    const rc = yield* initOne(ctx, out, dimm, labelSize, opts.f === true);
    if (rc === 0) count++;
    else if (!firstErr) firstErr = rc;
  }
  out.stderr += `initialized ${plural(count, "nmem")}\n`;
  return out.done(firstErr);
}

/** dimm.c `__action_init`: read the index area, refuse an active dimm or valid labels, write both. */
function* initOne(
  ctx: NdctlContext,
  out: Out,
  dimm: Nvdimm,
  labelSize: number,
  force: boolean,
): Task<number> {
  const label = dimm.label;
  if (!label) return ENXIO;
  const readSize = indexLayout(label.size, 128).indexSize * 2;
  const read = yield* ctx.lib.getConfigData(dimm, 0, readSize);
  if (read.rc) return ENXIO;
  if (dimmActive(ctx.lib.regions, dimm)) {
    out.stderr += `${dimm.dev}: regions active, abort label write\n`;
    return EBUSY;
  }
  const area = new Uint8Array(label.size);
  area.set(read.data!);
  if (validateIndexes(area) && !force) {
    out.stderr += `${dimm.dev}: error: labels already initialized\n`;
    return EBUSY;
  }
  const layout = indexLayout(label.size, labelSize);
  for (const i of [0, 1] as const) {
    // ndctl's write_label_index: index 0 gets sequence 3, index 1 sequence 2.
    const block = encodeIndex(layout, i, 3 - i, undefined, true);
    const w = yield* ctx.lib.setConfigData(dimm, i * layout.indexSize, block);
    if (w.rc) return ENXIO;
  }
  // The kernel holds a copy of the label area: re-probe the dimm so it reads the new one.
  if (dimm.enabled !== false) return yield* ctx.lib.probeDimm(dimm);
  return 0;
}

function* readLabels(ctx: NdctlContext, rest: readonly string[]): Task<NdctlOutput> {
  const { opts, args } = parse("read-labels", rest, {
    j: { long: "json", value: false },
    u: { long: "human", value: false },
    I: { long: "index", value: false },
    b: { long: "bus", value: true },
    v: { long: "verbose", value: false },
  });
  if (!opts.j && !opts.u) {
    throw new RangeError(
      "ndctl read-labels: the raw label area is binary; accepted: -j/--json (or -u/--human)",
    );
  }
  const out = new Out();
  const jdimms: Json[] = [];
  let count = 0, firstErr = 0;
  for (const dimm of selectDimms(ctx, "read-labels", args)) {
    const label = dimm.label;
    if (!label) {
      firstErr ||= ENXIO;
      continue;
    }
    const length = opts.I ? indexLayout(label.size, 128).indexSize * 2 : label.size;
    const read = yield* ctx.lib.getConfigData(dimm, 0, length);
    if (read.rc) {
      firstErr ||= read.rc;
      continue;
    }
    jdimms.push(dumpJson(dimm, read.data!, label.size, opts.u === true, opts.I === true));
    count++;
  }
  if (jdimms.length) out.stdout = `${formatJson(jdimms)}\n`;
  out.stderr += `read ${plural(count, "nmem")}\n`;
  return out.done(firstErr);
}

/** `ndctl_dimm_sizeof_namespace_label`: 256 only when more index blocks say v1.2 than v1.1. */
function ndctlLabelSize(data: Uint8Array): number {
  let v1 = 0, v2 = 0;
  for (const at of [0, 256]) {
    if (data.length < at + 72) break;
    const idx = decodeIndex(data.subarray(at, at + 72));
    if (idx.major === 1 && idx.minor === 1) v1++;
    else if (idx.major === 1 && idx.minor === 2) v2++;
  }
  return v2 > v1 ? 256 : 128;
}

/** dimm.c `dump_json`: the two index blocks, then every slot whose label names its own slot. */
function dumpJson(
  dimm: Nvdimm,
  data: Uint8Array,
  configSize: number,
  human: boolean,
  indexOnly: boolean,
): Json {
  const labelSize = ndctlLabelSize(data);
  const indexSize = indexLayout(configSize, labelSize).indexSize;
  const hex = (v: bigint): Json => human ? (v === 0n ? "0" : `0x${v.toString(16)}`) : v;
  const index: Json[] = [];
  for (const at of [0, indexSize]) {
    const idx = decodeIndex(data.subarray(at, at + 72));
    index.push({
      signature: idx.signature.split("\0")[0],
      major: idx.major,
      minor: idx.minor,
      labelsize: 1 << (7 + idx.labelsizeByte),
      seq: idx.seq,
      nslot: idx.nslot,
    });
  }
  const out: Record<string, Json> = { dev: dimm.dev, index };
  if (indexOnly) return out;
  const labels: Json[] = [];
  for (let at = indexSize * 2, slot = 0; at + labelSize <= data.length; at += labelSize, slot++) {
    const l = decodeLabel(data.subarray(at, at + labelSize));
    if (l.slot !== slot) continue;
    const j: Record<string, Json> = {
      uuid: l.uuid,
      name: l.name,
      slot: l.slot,
      position: l.position,
      nlabel: l.nlabel,
      flags: hex(BigInt(l.flags)),
      isetcookie: hex(l.isetcookie),
      lbasize: l.lbasize,
      dpa: hex(l.dpa),
      rawsize: human ? humanSize(l.rawsize) : l.rawsize,
    };
    if (labelSize >= 256) {
      j.type_guid = l.typeGuid!;
      j.abstraction_guid = l.abstractionGuid!;
    }
    labels.push(j);
  }
  out.label = labels;
  return out;
}

/** The regions a namespace command may touch (`-r`, `--bus`, type pmem). */
function selectRegions(ctx: NdctlContext, region?: string, bus?: string): Region[] {
  return ctx.lib.buses
    .filter((b) =>
      !bus || bus === "all" || b.dev === bus || b.provider === bus || `${b.dev.slice(5)}` === bus
    )
    .flatMap((b) => (b.region ? [b.region] : []))
    .filter((r) =>
      !region || region === "all" || r.dev === region || r.dev.slice("region".length) === region
    )
    .filter((r) => !r.volatile);
}

const MODES = ["fsdax", "raw", "memory"];

function* createNamespace(ctx: NdctlContext, rest: readonly string[]): Task<NdctlOutput> {
  const { opts, args } = parse("create-namespace", rest, {
    r: { long: "region", value: true },
    b: { long: "bus", value: true },
    s: { long: "size", value: true },
    m: { long: "mode", value: true },
    n: { long: "name", value: true },
    u: { long: "uuid", value: true },
    M: { long: "map", value: true },
    t: { long: "type", value: true },
    f: { long: "force", value: false },
    v: { long: "verbose", value: false },
  });
  const out = new Out();
  const cmd = "create namespace";
  if (args.length) {
    for (const a of args) out.error(`unknown extra parameter "${a}"\n`);
    return out.done(EINVAL);
  }
  const mode = (str(opts.m) ?? "fsdax").toLowerCase();
  if (!MODES.includes(mode)) {
    throw new RangeError(
      `ndctl create-namespace: mode "${str(opts.m)}" is not modelled; accepted: fsdax, raw`,
    );
  }
  const fsdax = mode !== "raw";
  if (opts.M !== undefined && str(opts.M) !== "dev") {
    throw new RangeError(`ndctl create-namespace: --map "${str(opts.M)}": accepted: dev`);
  }
  if (opts.t !== undefined && str(opts.t) !== "pmem") {
    throw new RangeError(`ndctl create-namespace: --type "${str(opts.t)}": accepted: pmem`);
  }
  let size: bigint | undefined;
  if (opts.s !== undefined) {
    size = parseSize(String(opts.s));
    if (size === undefined) {
      out.error(`failed to parse namespace size '${String(opts.s)}'\n`);
      out.stderr += `failed to create namespace: ${strerror(EINVAL)}\n`;
      return out.done(EINVAL);
    }
  }
  const name = str(opts.n) ?? "";
  let uuid = str(opts.u);
  if (uuid !== undefined && !uuidBytes(uuid)) {
    out.error(`failed to parse uuid: '${uuid}'\n`);
    out.stderr += `failed to create namespace: ${strerror(EINVAL)}\n`;
    return out.done(EINVAL);
  }
  uuid = uuid?.toLowerCase() ?? ctx.newUuid();
  let rc = ENXIO, created = 0;
  for (const region of selectRegions(ctx, str(opts.r), str(opts.b))) {
    rc = yield* createIn(ctx, out, cmd, region, { size, name, uuid, fsdax });
    if (rc === EAGAIN) continue;
    if (rc === 0) created++;
    break;
  }
  if (rc === EAGAIN) rc = ENOSPC;
  const doScan = rest.length === 0;
  if (rc < 0 && created < 1 && doScan) rc = ENXIO; // the blk retry finds no blk region
  if ((rc < 0 || created < 1) && out.errCount === 0) {
    out.stderr += `failed to create namespace: ${strerror(rc < 0 ? rc : ENODEV)}\n`;
    if (rc >= 0) rc = ENODEV;
  }
  return out.done(rc);
}

interface CreateParams {
  size?: bigint;
  name: string;
  uuid: string;
  fsdax: boolean;
}

const REGION_ALIGN = 16n << 20n;

/** namespace.c `namespace_create` on one region: EAGAIN when it cannot host the namespace. */
function* createIn(
  ctx: NdctlContext,
  out: Out,
  cmd: string,
  region: Region,
  p: CreateParams,
): Task<number> {
  if (region.enabled === false || !region.namespaces) return EAGAIN;
  const available = maxAvailableExtent(region);
  const size = p.size ?? available;
  if (!available || size > available) return EAGAIN;
  if (size % REGION_ALIGN !== 0n) {
    out.err(
      cmd,
      `${region.dev}: align setting is 0x${REGION_ALIGN.toString(16)} size 0x${
        size.toString(16)
      } is misaligned\n`,
    );
    return EINVAL;
  }
  const idle = (n: Namespace) => n.size === 0n && !n.enabled;
  const ns = region.namespaces.find((n) => n.id === 0 && idle(n)) ?? region.seed;
  if (!ns || !idle(ns)) return EAGAIN;
  // setup_namespace: uuid, alt_name, size, sector_size, then the claim (holder_class).
  const steps: Array<[string, () => Task<number>]> = [
    ["set_uuid", () => {
      ns.uuid = p.uuid;
      return labelUpdate(region, ns);
    }],
    ["set_alt_name", () => {
      ns.name = p.name;
      return labelUpdate(region, ns);
    }],
    ["set_size", () => setSize(region, ns, size)],
    ["set_sector_size", () => {
      ns.lbasize = 512;
      return labelUpdate(region, ns);
    }],
    ["set_enforce_mode", () => {
      ns.claim = p.fsdax ? "pfn" : "none";
      return labelUpdate(region, ns);
    }],
  ];
  for (const [op, step] of steps) {
    const rc = yield* step();
    if (rc) {
      out.err(cmd, `${ns.dev}: ${op} failed: ${strerror(rc)}\n`);
      return rc;
    }
  }
  if (p.fsdax) {
    if (!ctx.lib.media || ns.size <= fsdaxLayout(ns.size).dataoff) {
      out.error(`${ns.dev}: failed to enable\n`);
      return ENXIO;
    }
    if ((yield* writePfnInfo(region, ns, ctx.newUuid(), ctx.lib.media)) < 0) {
      out.error(`${ns.dev}: failed to enable\n`);
      return ENXIO;
    }
  }
  probeNamespace(region, ns, ctx.lib.media);
  out.stdout += `${formatJson(namespaceJson(region, ns))}\n`;
  return 0;
}

/** The namespaces a namespace command names (`namespaceR.N` or `all`). */
function selectNamespaces(
  ctx: NdctlContext,
  cmd: string,
  args: string[],
  region?: string,
  bus?: string,
): Array<[Region, Namespace]> {
  if (args.length === 0) {
    const verb = cmd.split("-")[0];
    throw new RangeError(`ndctl ${cmd}: specify a namespace to ${verb}, or "all"`);
  }
  if (args.length > 1) {
    throw new RangeError(`ndctl ${cmd}: unknown extra parameter "${args[1]}"`);
  }
  const name = args[0];
  const out: Array<[Region, Namespace]> = [];
  for (const r of selectRegions(ctx, region, bus)) {
    for (const ns of [...(r.namespaces ?? [])]) {
      if (name === "all" ? ns.size === 0n && !ns.uuid : ns.dev !== name) continue;
      out.push([r, ns]);
    }
  }
  return out;
}

function* destroyNamespace(ctx: NdctlContext, rest: readonly string[]): Task<NdctlOutput> {
  const { opts, args } = parse("destroy-namespace", rest, {
    f: { long: "force", value: false },
    r: { long: "region", value: true },
    b: { long: "bus", value: true },
    v: { long: "verbose", value: false },
  });
  const out = new Out();
  const targets = selectNamespaces(ctx, "destroy-namespace", args, str(opts.r), str(opts.b));
  let rc = args[0] === "all" ? 0 : ENXIO, destroyed = 0;
  for (const [region, ns] of targets) {
    rc = yield* destroyOne(ctx, out, region, ns, opts.f === true);
    if (rc === 0) destroyed++;
    if (rc > 0) rc = 0;
  }
  if (rc < 0 && out.errCount === 0) {
    out.stderr += `error destroying namespaces: ${strerror(rc)}\n`;
  }
  out.stderr += `destroyed ${plural(destroyed, "namespace")}\n`;
  return out.done(rc);
}

/** `namespace_destroy`: refuse an active one without -f, zero the info block, free the label. */
function* destroyOne(
  ctx: NdctlContext,
  out: Out,
  region: Region,
  ns: Namespace,
  force: boolean,
): Task<number> {
  if (ns.enabled && !force) {
    out.error(`${ns.dev} is active, specify --force for re-configuration\n`);
    return EBUSY;
  }
  ns.enabled = false;
  const media = ctx.lib.media;
  if (media && ns.size > 0n) {
    const rc = zeroInfoBlock(out, media, region, ns);
    if (rc < 0) return rc;
  }
  ns.pfn = undefined;
  ns.claim = "none";
  if (ns.size === 0n) return 1;
  const rc = yield* setSize(region, ns, 0n);
  return rc === ENXIO ? 0 : rc;
}

/**
 * ndctl/namespace.c `zero_info_block`: the first 8 KiB of the namespace, if
 * not zero already, by an O_DIRECT write to its raw pmem block device, whose
 * write_pmem is memcpy_flushcache (drivers/nvdimm/pmem.c; no REQ_FUA, so no
 * nvdimm_flush). The pmem driver's reads are machine-check safe, so a range
 * the host cannot complete is an I/O error to ndctl, not a crash: a failed
 * `pread` is reported and the zeroing goes on (its buffer then holds no
 * info block ndctl can trust, taken here as not zero); a failed `pwrite` is
 * reported and ends the destroy with -ENXIO. 0 when zeroed, 1 when already zero.
 */
function zeroInfoBlock(out: Out, media: Media, region: Region, ns: Namespace): number {
  const at = region.start + ns.dpa;
  const path = `/dev/${blockDevice(region, ns)}`;
  let zero = false;
  try {
    zero = !media.read(at, 8192).some((b) => b !== 0);
  } catch (error) {
    if (!(error instanceof MachineCheck)) throw error;
    out.err("destroy-namespace", `${ns.dev}: failed to read info block, continuing\n`);
  }
  if (zero) return 1;
  try {
    media.write(at, new Uint8Array(8192));
    media.writeBack?.(at, 8192);
  } catch (error) {
    if (!(error instanceof MachineCheck)) throw error;
    out.err("destroy-namespace", `${ns.dev}: failed to zero info block ${path}\n`);
    return ENXIO;
  }
  return 0;
}

function xableNamespace(
  ctx: NdctlContext,
  cmd: "enable-namespace" | "disable-namespace",
  rest: readonly string[],
): NdctlOutput {
  const { opts, args } = parse(cmd, rest, {
    r: { long: "region", value: true },
    b: { long: "bus", value: true },
    v: { long: "verbose", value: false },
  });
  const out = new Out();
  const enable = cmd === "enable-namespace";
  let rc = args[0] === "all" ? 0 : ENXIO, count = 0;
  for (const [region, ns] of selectNamespaces(ctx, cmd, args, str(opts.r), str(opts.b))) {
    if (enable) {
      rc = ns.enabled ? 0 : probeNamespace(region, ns, ctx.lib.media) === 0 ? 0 : ENXIO;
      if (rc) out.error(`${ns.dev}: failed to enable\n`);
    } else {
      ns.enabled = false;
      rc = 0;
    }
    if (rc === 0) count++;
  }
  const verb = enable ? "enabl" : "disabl";
  if (rc < 0 && out.errCount === 0) {
    out.stderr += `error ${verb}ing namespaces: ${strerror(rc)}\n`;
  }
  out.stderr += `${verb}ed ${plural(count, "namespace")}\n`;
  return out.done(rc);
}

function xableRegion(
  ctx: NdctlContext,
  cmd: "enable-region" | "disable-region",
  rest: readonly string[],
): NdctlOutput {
  const { opts, args } = parse(cmd, rest, {
    b: { long: "bus", value: true },
    t: { long: "type", value: true },
    v: { long: "verbose", value: false },
  });
  if (args.length === 0) {
    throw new RangeError(`ndctl ${cmd}: name a region (regionN) or "all"`);
  }
  const out = new Out();
  const enable = cmd === "enable-region";
  let count = 0, rc = 0;
  for (const name of args) {
    for (const region of selectRegions(ctx, name, str(opts.b))) {
      if (enable) {
        const r = region.enabled === false ? enableRegion(region, ctx.lib.media) : 0;
        if (r === 0) count++;
        else rc ||= r;
      } else {
        disableRegion(region);
        count++;
      }
    }
  }
  out.stderr += `${enable ? "enabled" : "disabled"} ${plural(count, "region")}\n`;
  return out.done(rc);
}

/**
 * A version-4-shaped uuid made from `seed` (two FNV-1a 64-bit hashes), for
 * the uuids ndctl generates: the machine hands in no randomness of the OS,
 * so the caller seeds it (the partition, its clock and a counter).
 */
export function uuidFromSeed(seed: string): string {
  const bytes = new Uint8Array(16);
  for (const [half, basis] of [[0, 0xcbf29ce484222325n], [8, 0x84222325cbf29ce4n]] as const) {
    let h: bigint = basis;
    for (let i = 0; i < seed.length; i++) {
      h ^= BigInt(seed.charCodeAt(i) & 0xFF);
      h = BigInt.asUintN(64, h * 0x100000001b3n);
    }
    // splitmix64's finalizer, so seeds that differ a little give uuids that differ a lot.
    h = BigInt.asUintN(64, (h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n);
    h = BigInt.asUintN(64, (h ^ (h >> 27n)) * 0x94d049bb133111ebn);
    h ^= h >> 31n;
    for (let i = 0; i < 8; i++) bytes[half + i] = Number((h >> BigInt(8 * i)) & 0xFFn);
  }
  bytes[6] = (bytes[6] & 0x0F) | 0x40;
  bytes[8] = (bytes[8] & 0x3F) | 0x80;
  const h = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
