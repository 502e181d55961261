/**
 * papr_scm from Linux 5.4 on: on H_OVERLAP it asks the hypervisor where the
 * first and last blocks are bound and, when the whole range is bound
 * contiguously, reuses that address with no unbind; otherwise it unbinds and
 * binds again. Any final failure is logged by the probe as `bind err`.
 * @module
 */
import { H, OP } from "../../abi/hcalls.ts";
import type { Task } from "./services.ts";
import { PaprScm53 } from "./v5_3.ts";

/** Linux 5.4 (and today's mainline) bind logic. */
export class PaprScm54 extends PaprScm53 {
  static override readonly version: string = "5.4";

  protected override *bindAtProbe(): Task<number> {
    let rc = yield* this.bind();
    if (rc === H.OVERLAP) rc = yield* this.queryAndBind();
    if (rc !== H.SUCCESS) this.dev("err", `bind err: ${rc}`);
    return rc;
  }

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
