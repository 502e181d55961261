/**
 * papr_scm as of Linux 5.2, before the kexec series: a bind that finds the
 * blocks still bound fails the probe (`bind err: -68`), and unbind uses
 * UNBIND_MEM on the bound range, looping only on H_BUSY.
 * @module
 */
import { BIND_ANY_ADDR, H, isLongBusy, longBusyMsecs, OP } from "../../abi/hcalls.ts";
import { readBool, readString, readU32, readU64 } from "../device_tree.ts";
import type { LabelOps, Nvdimm, NvdimmBus, Region } from "../libnvdimm.ts";
import {
  EINVAL,
  ENODEV,
  ENXIO,
  type KernelServices,
  type PlatformDevice,
  type PlparResult,
  type Task,
} from "./services.ts";

/** The driver of one `ibm,pmemory` device, Linux 5.2 behaviour. */
export class PaprScm52 {
  /** Kernel version whose driver this is. */
  static readonly version: string = "5.2";
  /** Device-tree `compatible` values the driver binds to. */
  static readonly compatible: readonly string[] = ["ibm,pmemory"];

  /** The kernel facilities the driver uses (hcalls, printk, msleep, libnvdimm). */
  readonly kernel: KernelServices;
  /** The `ibm,pmemory` platform device being probed (`p->pdev`). */
  readonly pdev: PlatformDevice;
  /** `ibm,my-drc-index` (`p->drc_index`): the DRC every hcall names. */
  drcIndex = 0;
  /** `ibm,number-of-blocks` (`p->blocks`): how many blocks the bind asks for. */
  blocks = 0n;
  /** `ibm,block-size` (`p->block_size`), in bytes. */
  blockSize = 0n;
  /** `ibm,metadata-size` (`p->metadata_size`): bytes of label area, 0 when absent. */
  metadataSize = 0;
  /** `ibm,unit-guid`: the unit GUID the interleave-set cookie is derived from. */
  uuid = "";
  /** `p->is_volatile`: true when `ibm,cache-flush-required` is absent. */
  isVolatile = false;
  /** `p->bound_addr`: the logical address the blocks are bound at, once bound. */
  boundAddr = 0n;
  /** `p->bus`: the nvdimm bus `papr_scm_nvdimm_init` registered; unset after remove. */
  bus?: NvdimmBus;

  /** The driver state of one device (`papr_scm_probe`'s `p`); nothing runs until `probe()`. */
  constructor(kernel: KernelServices, pdev: PlatformDevice) {
    this.kernel = kernel;
    this.pdev = pdev;
  }

  /** `dev_err`/`dev_warn`/... with the device prefix. */
  protected dev(level: "err" | "warn" | "info" | "debug", text: string): void {
    this.kernel.log(level, `papr_scm ${this.pdev.name}: ${text}`);
  }

  /** `plpar_hcall`, through the kernel's services. */
  protected hcall(opcode: number, ...args: bigint[]): Task<PlparResult> {
    return this.kernel.hcall(opcode, ...args);
  }

  /**
   * The loop the driver wraps around a continuable hcall: call with the
   * token from r4 while the answer is H_BUSY and, when `sleepOnLongBusy`,
   * sleep the hinted time on long busy and call again. Returns the final rc.
   */
  protected *untilDone(
    call: (token: bigint) => Task<PlparResult>,
    sleepOnLongBusy: boolean,
  ): Task<number> {
    let token = 0n, rc: number;
    do {
      const r = yield* call(token);
      rc = r.rc;
      token = r.rets[0];
      if (sleepOnLongBusy && isLongBusy(rc)) {
        yield* this.kernel.msleep(longBusyMsecs(rc));
        rc = H.BUSY;
      }
    } while (rc === H.BUSY);
    return rc;
  }

  /** Reads the device-tree properties; a missing required one fails the probe. */
  protected readProperties(): number {
    const { node, path } = this.pdev;
    const drc = readU32(node, "ibm,my-drc-index");
    if (drc === undefined) return this.missing("drc-index");
    const blockSize = readU64(node, "ibm,block-size");
    if (blockSize === undefined) return this.missing("block-size");
    const blocks = readU64(node, "ibm,number-of-blocks");
    if (blocks === undefined) return this.missing("number-of-blocks");
    const uuid = readString(node, "ibm,unit-guid");
    if (uuid === undefined) return this.missing("unit-guid");
    this.drcIndex = drc;
    this.blockSize = blockSize;
    this.blocks = blocks;
    this.uuid = uuid;
    // Optional: no label area when absent.
    this.metadataSize = Number(readU64(node, "ibm,metadata-size") ?? 0n);
    this.isVolatile = !readBool(node, "ibm,cache-flush-required");
    void path;
    return 0;
  }

  /** The probe's `dev_err("%pOF: missing <what>!")` and its -ENODEV. */
  protected missing(what: string): number {
    this.dev("err", `${this.pdev.path}: missing ${what}!`);
    return -ENODEV;
  }

  /** `papr_scm_probe`: 0 on success, a negative errno on failure. */
  *probe(): Task<number> {
    const rc = this.readProperties();
    if (rc) return rc;
    const bound = yield* this.bindAtProbe();
    if (bound !== H.SUCCESS) return this.probeError(bound);
    yield* this.registerNvdimm();
    return 0;
  }

  /** What the probe returns when the bind failed with hcall code `rc`: -ENXIO in 5.2. */
  protected probeError(_rc: number): number {
    return -ENXIO;
  }

  /** How the probe binds; 5.2 just binds and fails on any error. */
  protected bindAtProbe(): Task<number> {
    return this.bind();
  }

  /** `drc_pmem_bind`: loops while H_BUSY, keeping the first non-zero address. */
  *bind(): Task<number> {
    let token = 0n, saved = 0n, rc: number;
    do {
      const r = yield* this.hcall(
        OP.H_SCM_BIND_MEM,
        BigInt(this.drcIndex),
        0n,
        this.blocks,
        BIND_ANY_ADDR,
        token,
      );
      rc = r.rc;
      token = r.rets[0];
      if (!saved) saved = r.rets[1];
    } while (rc === H.BUSY);
    return this.bindDone(rc, saved);
  }

  /** What `drc_pmem_bind` does with the final code. */
  protected bindDone(rc: number, saved: bigint): number {
    if (rc) {
      this.dev("err", `bind err: ${rc}`);
      return rc;
    }
    this.boundAddr = saved;
    this.dev("debug", `bound drc 0x${this.drcIndex.toString(16)} to ${this.resourceText()}`);
    return H.SUCCESS;
  }

  /** `drc_pmem_unbind` of 5.2: UNBIND_MEM of the bound range, looping on H_BUSY. */
  *unbind(): Task<number> {
    const drc = BigInt(this.drcIndex);
    // Long busy is not retried: 5.2's loop only knows H_BUSY.
    const rc = yield* this.untilDone(
      (token) => this.hcall(OP.H_SCM_UNBIND_MEM, drc, this.boundAddr, this.blocks, token),
      false,
    );
    if (rc) this.dev("err", `unbind error: ${rc}`);
    return rc;
  }

  /** The bound range as `%pR` prints `p->res` (`[mem 0x...-0x...]`). */
  protected resourceText(): string {
    const end = this.boundAddr + this.blocks * this.blockSize - 1n;
    return `[mem 0x${hex16(this.boundAddr)}-0x${hex16(end)}]`;
  }

  /** `papr_scm_nvdimm_init`: a bus, a dimm and a region for this device. */
  protected *registerNvdimm(): Task<void> {
    const size = this.blocks * this.blockSize;
    // Mapping the region's memory costs the kernel time in proportion to its size.
    yield* this.kernel.compute(
      Number(size) / 2 ** 30 * this.kernel.registerNsPerGiB,
      "register region",
    );
    const lib = this.kernel.libnvdimm;
    this.bus = lib.registerBus(this.pdev.name);
    // What papr_scm_nvdimm_init checks before it creates the dimm (5.13 on: its health).
    yield* this.beforeDimm();
    const dimm = lib.createDimm(this.bus, {
      drcIndex: this.drcIndex,
      papr: this.sysfs(),
      label: this.labelOps(),
    });
    this.decorateDimm(dimm);
    const region = lib.createRegion(this.bus, {
      start: this.boundAddr,
      size,
      volatile: this.isVolatile,
      isetId: isetCookie(this.uuid),
      persistenceDomain: this.persistenceDomain(),
      align: this.regionAlign(size),
      // nd_region_create: a region with an unarmed dimm is read-only.
      readOnly: this.dimmUnarmed(),
      dimm,
    });
    this.decorateRegion(region);
  }

  /**
   * The region's `persistence_domain`: before ~5.7 papr_scm set no
   * persistence flag, so the kernel printed an empty line and ndctl showed
   * `unknown`; a volatile region has none.
   */
  protected persistenceDomain(): Region["persistenceDomain"] {
    return this.isVolatile ? "none" : "unknown";
  }

  /** The region's `align` attribute: absent before 5.7. */
  protected regionAlign(_size: bigint): bigint | undefined {
    return undefined;
  }

  /** Whether the dimm is created with NDD_UNARMED (5.13 on). */
  protected dimmUnarmed(): boolean {
    return false;
  }

  /** Work `papr_scm_nvdimm_init` does between the bus and the dimm (nothing before 5.13). */
  protected *beforeDimm(): Task<void> {}

  /** Driver attributes under the dimm's `papr/` directory (none in 5.2). */
  protected sysfs(): Record<string, () => Task<string>> {
    return {};
  }

  /** Hook for later versions to add health to the dimm. */
  protected decorateDimm(_dimm: Nvdimm): void {}

  /** Hook for later versions to give the region a flush. */
  protected decorateRegion(_region: Region): void {}

  /** The config commands as `papr_scm_ndctl` serves them. */
  protected labelOps(): LabelOps {
    return {
      size: this.metadataSize,
      maxXfer: this.labelMaxXfer(),
      get: (offset, out) => this.metaGet(offset, out),
      set: (offset, data) => this.metaSet(offset, data),
    };
  }

  /** `max_xfer` answered to ND_CMD_GET_CONFIG_SIZE: one byte per command in 5.2. */
  protected labelMaxXfer(): number {
    return 1;
  }

  /**
   * `papr_scm_meta_get` of 5.2: exactly one byte per command, checked only by
   * its offset, so every byte of the area (the last one too) is readable.
   */
  *metaGet(offset: number, out: Uint8Array): Task<number> {
    if (offset >= this.metadataSize || out.length !== 1) return -EINVAL;
    const r = yield* this.hcall(OP.H_SCM_READ_METADATA, BigInt(this.drcIndex), BigInt(offset), 1n);
    if (r.rc) return metaErrno(r.rc);
    out[0] = Number(r.rets[0] & 0xFFn);
    return 0;
  }

  /** `papr_scm_meta_set` of 5.2: one byte per command. */
  *metaSet(offset: number, data: Uint8Array): Task<number> {
    if (offset >= this.metadataSize || data.length !== 1) return -EINVAL;
    const { rc } = yield* this.hcall(
      OP.H_SCM_WRITE_METADATA,
      BigInt(this.drcIndex),
      BigInt(offset),
      BigInt(data[0]),
      1n,
    );
    return rc ? metaErrno(rc) : 0;
  }

  /** `papr_scm_remove`: unregister, then unbind. */
  *remove(): Task<void> {
    if (this.bus) this.kernel.libnvdimm.unregisterBus(this.bus);
    this.bus = undefined;
    yield* this.unbind();
  }
}

/** How the metadata paths turn an hcall error into an errno. */
export function metaErrno(rc: number): number {
  // H_PARAMETER is a bad DRC index; anything else an invalid parameter.
  return rc === H.PARAMETER ? -ENODEV : -EINVAL;
}

function hex16(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}

/**
 * The interleave-set cookie papr_scm derives from the unit GUID, as ndctl
 * shows it (`iset_id`): the GUID's second half read little-endian, signed.
 */
export function isetCookie(uuid: string): bigint {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return 0n;
  let v = 0n;
  for (let i = 15; i >= 8; i--) v = (v << 8n) | BigInt(parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  return BigInt.asIntN(64, v);
}
