/**
 * The built-in crash workloads: libnvdimm's label update protocol through
 * the real guest path (`labels_ndctl.ts`: 5.4, mainline, 5.2, and a broken
 * variant that writes the index first), a
 * PMDK-style pool guarded by the shutdown-state check, and a workload that
 * forgets a flush on purpose.
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import type { Lpar } from "../actors/lpar.ts";
import type { CrashWorkload } from "./explore.ts";
import { fletcher64 } from "../guest/labels/format.ts";
import { labelsNdctlWorkload } from "./labels_ndctl.ts";

/** One LPAR, one small nvdimm, the mainline driver (it shows the shutdown count). */
const CONFIG: SystemConfig = {
  lpars: [{
    name: "lpar1",
    kernel: "mainline",
    nvdimms: [{ drc: "0x44100002", blocks: 1, blockSize: 1 << 20, metadataSize: 128 * 1024 }],
  }],
};

const REGION = "region0";

/** The pool's shutdown state (PMDK's `struct shutdown_state`, in one line at offset 0). */
interface Sds {
  usc: bigint;
  uuid: bigint;
  dirty: number;
  checksumOk: boolean;
  zero: boolean;
}

const POOL_UUID = 0x5ca1ab1e_0000_0001n;
const RECORDS = 3;
const RECORD_AT = (i: number) => 4096 + i * 64;

function encodeSds(usc: bigint, dirty: number): Uint8Array {
  const line = new Uint8Array(64);
  const view = new DataView(line.buffer);
  view.setBigUint64(0, usc, true);
  view.setBigUint64(8, POOL_UUID, true);
  line[16] = dirty;
  view.setBigUint64(24, fletcher64(line.subarray(0, 24)), true);
  return line;
}

function decodeSds(line: Uint8Array): Sds {
  const view = new DataView(line.buffer, line.byteOffset, 64);
  return {
    usc: view.getBigUint64(0, true),
    uuid: view.getBigUint64(8, true),
    dirty: line[16],
    checksumOk: view.getBigUint64(24, true) === fletcher64(line.subarray(0, 24)),
    zero: line.subarray(0, 32).every((b) => b === 0),
  };
}

/** The dimm's unsafe shutdown count as ndctl shows it (`ndctl list -DH`: `shutdown_count`). */
async function shutdownCount(lpar: Lpar): Promise<bigint> {
  const json = await lpar.ndctlJson({ dimms: true, health: true }) as unknown;
  const dimm = (Array.isArray(json) ? json[0] : json) as { health?: { shutdown_count?: number } };
  const count = dimm?.health?.shutdown_count;
  if (typeof count !== "number") throw new Error("ndctl list -DH shows no shutdown_count");
  return BigInt(count);
}

/**
 * PMDK's shutdown-state check at pool open (src/common/shutdown_state.c,
 * `shutdown_state_check`): a zeroed or torn state is reinitialised; the
 * same count and uuid open (a dirty flag left by a killed program is
 * cleared); a different count with the pool clean reinitialises; a
 * different count with the pool dirty refuses it.
 */
function sdsRefuses(sds: Sds, currentUsc: bigint): boolean {
  if (sds.zero || !sds.checksumOk) return false;
  if (sds.usc === currentUsc && sds.uuid === POOL_UUID) return false;
  return sds.dirty !== 0;
}

async function writeFlushed(lpar: Lpar, offset: number, bytes: Uint8Array): Promise<void> {
  await lpar.write(REGION, offset, bytes);
  await lpar.flush(REGION);
}

const record = (i: number) => new Uint8Array(64).fill(0x10 + i);

/**
 * (b) `pmdk-pool`: open (shutdown state: dirty, the current count; flushed),
 * three records each written and flushed, close (clean; flushed). The
 * oracle: the pool is refused ("an ADR failure was detected") exactly when
 * the count changed at this power-on and the durable state was dirty; and
 * a record that was lost is never in a pool that opens.
 */
export const pmdkPoolWorkload: CrashWorkload = {
  name: "pmdk-pool",
  summary: "a pool opened dirty, three flushed records, closed clean: refused exactly when " +
    "the shutdown count changed while it was dirty; never opens with a record lost",
  config: CONFIG,
  async run({ lpar }) {
    const usc = await shutdownCount(lpar);
    await writeFlushed(lpar, 0, encodeSds(usc, 1));
    for (let i = 0; i < RECORDS; i++) await writeFlushed(lpar, RECORD_AT(i), record(i));
    await writeFlushed(lpar, 0, encodeSds(usc, 0));
  },
  async check({ lpar, image }) {
    const usc = await shutdownCount(lpar);
    const sds = decodeSds(await lpar.read(REGION, 0, 64));
    const refused = sdsRefuses(sds, usc);
    const countChanged = usc !== 0n;
    const durableDirty = !sds.zero && sds.checksumOk && sds.dirty !== 0;
    if (countChanged !== (image.lost.length > 0)) {
      return `the shutdown count is ${usc} but ${image.lost.length} lines were lost: ` +
        `the dirty-shutdown chain is broken`;
    }
    if (refused !== (countChanged && durableDirty)) {
      return `the pool was ${refused ? "refused" : "opened"}, but the count ` +
        `${countChanged ? "changed" : "did not change"} and the pool was ` +
        `${durableDirty ? "dirty" : "clean"}`;
    }
    const recordLost = image.lost.some((l) => l.offset >= 4096);
    if (!refused && recordLost) return "the pool opened with a record lost";
    return undefined;
  },
};

/**
 * (c) `broken-flush`: writes a two-line record and its commit flag, then
 * flushes once: the flag can reach the media without the record. The
 * checker demands that a committed record is whole; exploration must catch
 * the crash images where it is not.
 */
export const brokenFlushWorkload: CrashWorkload = {
  name: "broken-flush",
  summary: "record then commit flag with one flush at the end (a forgotten flush): " +
    "a committed record must be whole",
  config: CONFIG,
  expectFailure: true,
  async run({ lpar }) {
    await lpar.write(REGION, 4096, new Uint8Array(128).fill(0xAB));
    // The bug: no flush here, so the record is not ordered before the flag.
    await lpar.write(REGION, 0, new Uint8Array([1]));
    await lpar.flush(REGION);
  },
  async check({ lpar }) {
    const flag = (await lpar.read(REGION, 0, 1))[0];
    if (flag !== 1) return undefined;
    const data = await lpar.read(REGION, 4096, 128);
    const bad = data.findIndex((b) => b !== 0xAB);
    return bad < 0
      ? undefined
      : `the commit flag is durable but the record is not: byte ${bad} of it is ` +
        `0x${data[bad].toString(16)}, expected 0xab`;
  },
};

/** The built-in workloads by name. */
export const BUILTIN_WORKLOADS: Record<string, CrashWorkload> = {
  "labels-ndctl": labelsNdctlWorkload("5.4"),
  "labels-ndctl-mainline": labelsNdctlWorkload("mainline"),
  "labels-ndctl-5.2": labelsNdctlWorkload("5.2"),
  "labels-ndctl-broken": labelsNdctlWorkload("5.4", true),
  "pmdk-pool": pmdkPoolWorkload,
  "broken-flush": brokenFlushWorkload,
};
