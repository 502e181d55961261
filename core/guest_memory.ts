/**
 * The hypervisor's window on the partitions' real memory, over whatever
 * buffers a runtime gives each LPAR (shared ones on `threads`, plain ones on
 * `sim`). The core writes the SCMSTATS buffer through it.
 * @module
 */
import type { GuestMemory, LparId } from "./types.ts";

/** A GuestMemory over `lookup(lpar)`; any range outside an LPAR's buffer is refused. */
export function guestMemoryOver(
  lookup: (lpar: LparId) => ArrayBufferLike | undefined,
): GuestMemory {
  const range = (lpar: LparId, address: bigint, length: number) => {
    const memory = lookup(lpar);
    if (!memory || address < 0n || address + BigInt(length) > BigInt(memory.byteLength)) {
      return undefined;
    }
    return new Uint8Array(memory, Number(address), length);
  };
  return {
    write(lpar, address, bytes) {
      const view = range(lpar, address, bytes.length);
      view?.set(bytes);
      return view !== undefined;
    },
    read(lpar, address, length) {
      return range(lpar, address, length)?.slice();
    },
  };
}
