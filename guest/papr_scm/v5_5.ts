/**
 * papr_scm of Linux 5.5: the label-area bounds check loses its off-by-one
 * (612ee81b9461, `powerpc/papr_scm: Fix an off-by-one check in
 * papr_scm_meta_{get, set}`), so the last bytes of the area can be read and
 * written. Everything else is 5.4.
 * @module
 */
import { PaprScm54 } from "./v5_4.ts";

/** Linux 5.5 papr_scm. */
export class PaprScm55 extends PaprScm54 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.5";

  /** 612ee81b9461: the whole area, last byte included, is in range. */
  protected override metaOutOfRange(offset: number, length: number): boolean {
    return offset + length > this.metadataSize;
  }
}
