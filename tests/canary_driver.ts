/**
 * A deliberately broken papr_scm 5.4 driver, for testing the swarm tester
 * only: after H_OVERLAP it queries where block 0 is bound and reuses that
 * address without querying the last block, so a DRC bound in pieces (or only
 * in part) is taken for one contiguous range. The real driver
 * (`guest/papr_scm/v5_4.ts`) checks that the last block sits exactly
 * `(blocks - 1) × blockSize` after the first. The swarm must catch this.
 *
 * @example
 * ```ts
 * import { ManagedSystem } from "../mod.ts";
 * import { CANARY_DRIVERS } from "./canary_driver.ts";
 * await using system = await ManagedSystem.start(
 *   { lpars: [{ name: "lpar1", nvdimms: [{ drc: "0x44100002", blocks: 2, blockSize: 65536 }] }] },
 *   { runtime: "sim", seed: 1, drivers: CANARY_DRIVERS },
 * );
 * ```
 * @module
 */
import { H, OP } from "../abi/hcalls.ts";
import type { DriverOverrides } from "../guest/kernel.ts";
import { PaprScm54 } from "../guest/papr_scm/v5_4.ts";
import type { Task } from "../guest/task.ts";

/** 5.4 with the contiguity check of `drc_pmem_query_n_bind` left out. */
export class CanaryPaprScm54 extends PaprScm54 {
  protected override *queryAndBind(): Task<number> {
    const drc = BigInt(this.drcIndex);
    const first = yield* this.hcall(OP.H_SCM_QUERY_BLOCK_MEM_BINDING, drc, 0n);
    if (first.rc === H.SUCCESS) {
      // The bug, on purpose: block 0 bound is taken to mean the whole range is, in place.
      this.boundAddr = first.rets[0];
      return H.SUCCESS;
    }
    this.dev("info", "Failed to query, trying an unbind followed by bind");
    yield* this.unbind();
    return yield* this.bind();
  }
}

/** The override that puts the canary in place of the 5.4 driver. */
export const CANARY_DRIVERS: DriverOverrides = { "5.4": CanaryPaprScm54 };
