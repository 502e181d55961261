/**
 * papr_scm of Linux 5.13:
 * - H_SCM_FLUSH for a region whose node has `ibm,hcall-flush-required`
 *   (75b7c05ebf90, `powerpc/papr_scm: Implement support for H_SCM_FLUSH
 *   hcall`): the region gets `papr_scm_pmem_flush` as its flush, which
 *   libnvdimm calls for every `nvdimm_flush`, including the pmem driver's
 *   shutdown of an active namespace (`nd_pmem_shutdown`);
 * - the dimm's health is read once in `papr_scm_nvdimm_init`, before the
 *   dimm is created, and an unarmed (or unhealthy) dimm is created with
 *   NDD_UNARMED, which makes its region read-only (adb68c38d8d4,
 *   `powerpc/papr_scm: Mark nvdimm as unarmed if needed during probe`). That
 *   query also fills the 60 s health cache.
 * @module
 */
import { OP } from "../../abi/hcalls.ts";
import { readBool } from "../device_tree.ts";
import type { Region } from "../libnvdimm.ts";
import type { Task } from "./services.ts";
import { UNARMED_MASK } from "./v5_8.ts";
import { PaprScm59 } from "./v5_9.ts";

/** Linux 5.13 papr_scm. */
export class PaprScm513 extends PaprScm59 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.13";

  /** `ibm,hcall-flush-required`: the region flushes by H_SCM_FLUSH. */
  hcallFlushRequired = false;

  /** The 5.4 properties plus `ibm,hcall-flush-required`. */
  protected override readProperties(): number {
    const rc = super.readProperties();
    if (rc) return rc;
    this.hcallFlushRequired = readBool(this.pdev.node, "ibm,hcall-flush-required");
    return 0;
  }

  /** `papr_scm_nvdimm_init` asks the dimm's health; an error is ignored. */
  protected override *beforeDimm(): Task<void> {
    yield* this.queryHealth();
  }

  /** NDD_UNARMED when the health says unarmed or unhealthy. */
  protected override dimmUnarmed(): boolean {
    return (this.healthBitmap & UNARMED_MASK) !== 0n;
  }

  /** `papr_scm_pmem_flush` as `ndr_desc.flush` when `ibm,hcall-flush-required`. */
  protected override decorateRegion(region: Region): void {
    super.decorateRegion(region);
    if (this.hcallFlushRequired) region.flush = () => this.flush();
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
}
