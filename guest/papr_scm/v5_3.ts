/**
 * papr_scm as merged in Linux 5.3 by the kexec series: on H_OVERLAP at probe
 * it warns, unbinds everything of the DRC with UNBIND_ALL and binds once
 * more. Its bind no longer logs H_OVERLAP, so a second one fails silently.
 * @module
 */
import { H, isLongBusy, longBusyMsecs, OP, UNBIND_SCOPE } from "../../abi/hcalls.ts";
import { PaprScm52 } from "./v5_2.ts";

/** Linux 5.3 behaviour. */
export class PaprScm53 extends PaprScm52 {
  static override readonly version: string = "5.3";

  protected override bindAtProbe(): number {
    let rc = this.bind();
    if (rc === H.OVERLAP) {
      this.dev("warn", "Retrying bind after unbinding");
      this.unbind();
      rc = this.bind();
    }
    return rc;
  }

  protected override bindDone(rc: number, saved: bigint): number {
    if (rc) {
      // Expected when binding again after a kexec, so not logged.
      if (rc !== H.OVERLAP) this.dev("err", `bind err: ${rc}`);
      return rc;
    }
    return super.bindDone(rc, saved);
  }

  /** UNBIND_ALL of the DRC: sleeps on long busy, retries on H_BUSY. */
  override unbind(): number {
    this.dev("debug", `unbind drc 0x${this.drcIndex.toString(16)}`);
    let token = 0n, rc: number;
    do {
      const r = this.hcall(
        OP.H_SCM_UNBIND_ALL,
        BigInt(UNBIND_SCOPE.DRC),
        BigInt(this.drcIndex),
        token,
      );
      rc = r.rc;
      token = r.rets[0];
      if (isLongBusy(rc)) {
        this.kernel.msleep(longBusyMsecs(rc));
        rc = H.BUSY;
      }
    } while (rc === H.BUSY);
    if (rc) this.dev("err", `unbind error: ${rc}`);
    else this.dev("debug", `unbind drc 0x${this.drcIndex.toString(16)} complete`);
    return rc;
  }
}
