/**
 * A deliberately broken libnvdimm for crash exploration only: the papr_scm
 * 5.4 driver, unchanged, whose label commands ask libnvdimm to write a
 * namespace update's index block before the label slot it names (the
 * kernel writes the label first: drivers/nvdimm/label.c
 * `__pmem_label_update`). A crash between the two leaves an index that
 * names a slot holding an older label, so a destroyed namespace can come
 * back; the `labels-ndctl-broken` workload must catch it.
 *
 * @example
 * ```ts
 * import { ManagedSystem } from "../mod.ts";
 * import { INDEX_FIRST_DRIVERS } from "./index_first_driver.ts";
 * await using system = await ManagedSystem.start(
 *   { lpars: [{ name: "a", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }] },
 *   { runtime: "sim", seed: 1, drivers: INDEX_FIRST_DRIVERS },
 * );
 * ```
 * @module
 */
import type { DriverOverrides } from "../guest/kernel.ts";
import type { LabelOps } from "../guest/libnvdimm.ts";
import { PaprScm54 } from "../guest/papr_scm/v5_4.ts";

/** papr_scm 5.4 whose dimm has libnvdimm write the index before the label. */
export class IndexFirstPaprScm54 extends PaprScm54 {
  protected override labelOps(): LabelOps {
    return { ...super.labelOps(), indexBeforeLabel: true };
  }
}

/** The override that puts the index-first variant in place of the 5.4 driver. */
export const INDEX_FIRST_DRIVERS: DriverOverrides = { "5.4": IndexFirstPaprScm54 };
