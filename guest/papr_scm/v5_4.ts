/**
 * papr_scm from Linux 5.4 on: on H_OVERLAP it asks the hypervisor where the
 * first and last blocks are bound and, when the whole range is bound
 * contiguously, reuses that address with no unbind; otherwise it unbinds and
 * binds again. Any final failure is logged by the probe as `bind err`.
 * @module
 */
import { H, OP } from "../../abi/hcalls.ts";
import { ENXIO, type Task } from "./services.ts";
import { PaprScm53 } from "./v5_3.ts";

/**
 * Linux 5.4 (and today's mainline) bind logic.
 *
 * A patched variant is a subclass; the `sim` runtime boots it in place of
 * the real driver of its kernel version:
 * @example
 * ```ts
 * import { ManagedSystem } from "../../mod.ts";
 * import type { Task } from "./services.ts";
 * import { PaprScm54 } from "./v5_4.ts";
 *
 * // The patch under test: on H_OVERLAP, never reuse; unbind and bind again.
 * class NoReuse54 extends PaprScm54 {
 *   protected override *queryAndBind(): Task<number> {
 *     this.dev("info", "patched: unbind and bind again");
 *     yield* this.unbind();
 *     return yield* this.bind();
 *   }
 * }
 *
 * await using system = await ManagedSystem.start({
 *   lpars: [{ name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
 * }, { runtime: "sim", drivers: { "5.4": NoReuse54 } });
 * const lpar = system.lpar("lpar1");
 * await lpar.boot();
 * await lpar.kexec(); // the new kernel finds the blocks bound: H_OVERLAP
 * console.log((await lpar.dmesg()).join("\n"));
 * ```
 */
export class PaprScm54 extends PaprScm53 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.4";

  /**
   * From 5.4 (`powerpc/nvdimm: Use HCALL error as the return value`) the
   * bind returns the hcall code and the probe turns any failure into -ENXIO.
   */
  protected override probeError(_rc: number): number {
    return -ENXIO;
  }

  /**
   * The probe's bind in 5.4: on H_OVERLAP, `drc_pmem_query_n_bind`; any
   * final failure is logged here as `bind err`.
   */
  protected override *bindAtProbe(): Task<number> {
    let rc = yield* this.bind();
    if (rc === H.OVERLAP) rc = yield* this.queryAndBind();
    if (rc !== H.SUCCESS) this.dev("err", `bind err: ${rc}`);
    return rc;
  }

  /** `drc_pmem_bind` of 5.4: logs no error itself (the probe does). */
  protected override bindDone(rc: number, saved: bigint): number {
    if (rc) return rc;
    return super.bindDone(rc, saved);
  }

  /** `drc_pmem_query_n_bind`. */
  protected *queryAndBind(): Task<number> {
    const drc = BigInt(this.drcIndex);
    const first = yield* this.hcall(OP.H_SCM_QUERY_BLOCK_MEM_BINDING, drc, 0n);
    if (first.rc === H.SUCCESS) {
      const last = yield* this.hcall(OP.H_SCM_QUERY_BLOCK_MEM_BINDING, drc, this.blocks - 1n);
      if (
        last.rc === H.SUCCESS &&
        last.rets[0] - first.rets[0] === (this.blocks - 1n) * this.blockSize
      ) {
        this.boundAddr = first.rets[0];
        this.dev("debug", `bound drc 0x${this.drcIndex.toString(16)} to ${this.resourceText()}`);
        return H.SUCCESS;
      }
    }
    this.dev("info", "Failed to query, trying an unbind followed by bind");
    yield* this.unbind();
    return yield* this.bind();
  }
}
