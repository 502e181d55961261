/**
 * papr_scm as merged in Linux 5.3 by the kexec series: on H_OVERLAP at probe
 * it warns, unbinds everything of the DRC with UNBIND_ALL and binds once
 * more. Its bind no longer logs H_OVERLAP, so a second one fails silently.
 *
 * 5.3 also moves label data up to 8 bytes per command, split into 8, 4, 2
 * and 1-byte hcalls, with the off-by-one bounds check (`>=`) that makes the
 * last bytes of the area unreadable (fixed in 5.5).
 * @module
 */
import { H, OP, UNBIND_SCOPE } from "../../abi/hcalls.ts";
import { EBUSY, EINVAL, ENXIO, type Task } from "./services.ts";
import { metaErrno, PaprScm52 } from "./v5_2.ts";

/** The hcall width for `len` bytes still to move: 8, 4, 2 or 1. */
function width(len: number): number {
  return len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
}

/**
 * Stores `value`'s low `n` bytes at `out[at..]`, most significant first (as
 * 5.3 takes r4 apart). Outside the generator that waits on the hcall, whose
 * frame is saved and restored on every hcall, and by 32-bit halves, so no
 * bigint is made per byte.
 */
function unpackBigEndian(value: bigint, out: Uint8Array, at: number, n: number): void {
  const lo = Number(BigInt.asUintN(32, value));
  const hi = n === 8 ? Number(BigInt.asUintN(32, value >> 32n)) : 0;
  for (let i = 0; i < n; i++) {
    const shift = 8 * (n - 1 - i);
    out[at + i] = shift >= 32 ? (hi >>> (shift - 32)) & 0xFF : (lo >>> shift) & 0xFF;
  }
}

/** Linux 5.3 behaviour. */
export class PaprScm53 extends PaprScm52 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.3";

  /** `max_xfer` of 5.3: up to 8 bytes per command, split into 8/4/2/1-byte hcalls. */
  protected override labelMaxXfer(): number {
    return 8;
  }

  /** The bounds check of 5.3 and 5.4: `offset + length >= size` (off by one). */
  protected metaOutOfRange(offset: number, length: number): boolean {
    return offset + length >= this.metadataSize;
  }

  /** `papr_scm_meta_get`: 8/4/2/1-byte READ_METADATA, big-endian in r4. */
  override *metaGet(offset: number, out: Uint8Array): Task<number> {
    if (this.metaOutOfRange(offset, out.length)) return -EINVAL;
    for (let done = 0; done < out.length;) {
      const n = width(out.length - done);
      const r = yield* this.hcall(
        OP.H_SCM_READ_METADATA,
        BigInt(this.drcIndex),
        BigInt(offset + done),
        BigInt(n),
      );
      if (r.rc) return metaErrno(r.rc);
      unpackBigEndian(r.rets[0], out, done, n);
      done += n;
    }
    return 0;
  }

  /** `papr_scm_meta_set`: 8/4/2/1-byte WRITE_METADATA, data big-endian in r6. */
  override *metaSet(offset: number, data: Uint8Array): Task<number> {
    if (this.metaOutOfRange(offset, data.length)) return -EINVAL;
    for (let done = 0; done < data.length;) {
      const n = width(data.length - done);
      let value = 0n;
      for (let i = 0; i < n; i++) value = (value << 8n) | BigInt(data[done + i]);
      const { rc } = yield* this.hcall(
        OP.H_SCM_WRITE_METADATA,
        BigInt(this.drcIndex),
        BigInt(offset + done),
        value,
        BigInt(n),
      );
      if (rc) return metaErrno(rc);
      done += n;
    }
    return 0;
  }

  /** The probe's bind in 5.3: on H_OVERLAP, warns, unbinds the whole DRC and binds once more. */
  protected override *bindAtProbe(): Task<number> {
    let rc = yield* this.bind();
    if (rc === H.OVERLAP) {
      this.dev("warn", "Retrying bind after unbinding");
      yield* this.unbind();
      rc = yield* this.bind();
    }
    return rc;
  }

  /**
   * 5.3's `drc_pmem_bind` returns -EBUSY for H_OVERLAP (its "separate error
   * path", from the kexec series) and -ENXIO for anything else; the probe
   * passes it on, so a second H_OVERLAP fails the probe with -EBUSY, which
   * the driver core reports (`probe of ... failed with error -16`).
   */
  protected override probeError(rc: number): number {
    return rc === H.OVERLAP ? -EBUSY : -ENXIO;
  }

  /** `drc_pmem_bind` of 5.3: as 5.2, but H_OVERLAP (expected after a kexec) is not logged. */
  protected override bindDone(rc: number, saved: bigint): number {
    if (rc) {
      // Expected when binding again after a kexec, so not logged.
      if (rc !== H.OVERLAP) this.dev("err", `bind err: ${rc}`);
      return rc;
    }
    return super.bindDone(rc, saved);
  }

  /** UNBIND_ALL of the DRC: sleeps on long busy, retries on H_BUSY. */
  override *unbind(): Task<number> {
    this.dev("debug", `unbind drc 0x${this.drcIndex.toString(16)}`);
    const drc = BigInt(this.drcIndex), scope = BigInt(UNBIND_SCOPE.DRC);
    const rc = yield* this.untilDone(
      (token) => this.hcall(OP.H_SCM_UNBIND_ALL, scope, drc, token),
      true,
    );
    if (rc) this.dev("err", `unbind error: ${rc}`);
    else this.dev("debug", `unbind drc 0x${this.drcIndex.toString(16)} complete`);
    return rc;
  }
}
