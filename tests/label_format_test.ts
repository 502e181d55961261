/**
 * The namespace label format (guest/labels/): sizes, checksums, index
 * selection by sequence number, label round trips and slot checks, the
 * dimm probe's read pattern, label updates, and the fsdax info block.
 * Pure code: no workers.
 */
import assert from "node:assert/strict";
import {
  bestSeq,
  decodeIndex,
  decodeLabel,
  encodeIndex,
  encodeLabel,
  fletcher64,
  incSeq,
  indexLayout,
  indexProblem,
  type NamespaceLabel,
  NVDIMM_PFN_GUID,
  slotValid,
  validateIndexes,
} from "../guest/labels/format.ts";
import { type ConfigAccess, DimmLabels } from "../guest/labels/ndd.ts";
import { decodePfnInfo, encodePfnInfo, fsdaxLayout } from "../guest/labels/pfn.ts";
import { runSync } from "../guest/task.ts";

const AREA = 128 * 1024;

Deno.test("fletcher64 sums little-endian 32-bit words (nd_fletcher64)", () => {
  assert.equal(fletcher64(new Uint8Array(8)), 0n);
  // lo = 1 then 3; hi = 1 then 4.
  assert.equal(fletcher64(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0])), (4n << 32n) | 3n);
  // lo wraps at 32 bits.
  assert.equal(fletcher64(new Uint8Array([255, 255, 255, 255, 1, 0, 0, 0])), 0xFFFFFFFFn << 32n);
});

Deno.test("sizes: a 128 KiB area has 256-byte index blocks and 1020 or 510 slots", () => {
  assert.deepEqual(indexLayout(AREA, 128), {
    configSize: AREA,
    labelSize: 128,
    indexSize: 256,
    nslot: 1020,
  });
  assert.equal(indexLayout(AREA, 256).nslot, 510);
  // UEFI 2.7's minimum: two index blocks and two labels.
  assert.equal(indexLayout(1024, 128).indexSize, 256);
  assert.equal(indexLayout(512, 128).indexSize, 0, "too small for two labels");
});

Deno.test("sequence numbers go 1 → 2 → 3 → 1 and the newer one wins", () => {
  assert.deepEqual([1, 2, 3].map(incSeq), [2, 3, 1]);
  assert.equal(bestSeq(1, 2), 2);
  assert.equal(bestSeq(2, 3), 3);
  assert.equal(bestSeq(3, 1), 1, "1 follows 3");
  assert.equal(bestSeq(3, 2), 3);
  assert.equal(bestSeq(0, 2), 2, "0 is never valid");
});

function area(seq0: number, seq1: number, labelSize = 128): Uint8Array {
  const a = new Uint8Array(AREA);
  const layout = indexLayout(AREA, labelSize);
  a.set(encodeIndex(layout, 0, seq0), 0);
  a.set(encodeIndex(layout, 1, seq1), layout.indexSize);
  return a;
}

Deno.test("index blocks: round trip, selection, and a corrupt one is ignored", async (t) => {
  await t.step("round trip", () => {
    const a = area(3, 2);
    const idx = decodeIndex(a.subarray(256, 512));
    assert.equal(idx.signature, "NAMESPACE_INDEX\0");
    assert.deepEqual(
      [idx.seq, idx.myoff, idx.mysize, idx.otheroff, idx.labeloff, idx.nslot, idx.major, idx.minor],
      [2, 256, 256, 0, 512, 1020, 1, 1],
    );
    // Every slot free, and no bit past nslot.
    assert.equal(idx.free[0], 0xFF);
    assert.equal(idx.free[1020 >> 3], 0x0F);
    assert.equal(indexProblem(a, 1, 128), undefined);
  });
  await t.step("the newer valid index is current", () => {
    assert.equal(validateIndexes(area(3, 2))?.current, 0);
    assert.equal(validateIndexes(area(2, 3))?.current, 1);
    assert.equal(validateIndexes(area(3, 1))?.current, 1, "1 follows 3");
  });
  await t.step("a corrupt newer index is ignored: the older one wins", () => {
    const a = area(2, 3);
    a[256 + 100] ^= 1; // a free bit of index 1: its checksum no longer holds
    assert.equal(indexProblem(a, 1, 128), "nsindex1 checksum invalid");
    assert.equal(validateIndexes(a)?.current, 0);
    a[5] ^= 1; // the signature of index 0
    assert.equal(indexProblem(a, 0, 128), "nsindex0 signature invalid");
    assert.equal(validateIndexes(a), undefined, "none valid: no labels");
  });
  await t.step("sequence 0 is invalid; v1.2 blocks are found with 256-byte labels", () => {
    assert.equal(validateIndexes(area(0, 2))?.current, 1);
    assert.equal(indexProblem(area(0, 2), 0, 128), "nsindex0 sequence: 0x0 invalid");
    const v12 = validateIndexes(area(1, 2, 256));
    assert.deepEqual([v12?.current, v12?.labelSize], [1, 256]);
    assert.equal(decodeIndex(area(1, 2, 256)).minor, 2);
  });
});

const LABEL: NamespaceLabel = {
  uuid: "8c8c4a3e-6b1f-4b6a-9d8e-0123456789ab",
  name: "db",
  flags: 0,
  nlabel: 1,
  position: 0,
  isetcookie: 0x1122334455667788n,
  lbasize: 512n,
  dpa: 0x1000_0000n,
  rawsize: 1n << 30n,
  slot: 7,
};

Deno.test("labels: v1.1 and v1.2 round trips and slot_valid", () => {
  const v11 = encodeLabel(LABEL, 128);
  assert.equal(v11.length, 128);
  assert.deepEqual(decodeLabel(v11), LABEL);
  assert.ok(slotValid(v11, 7));
  assert.ok(!slotValid(v11, 6), "a label says which slot it is in");
  assert.ok(!slotValid(encodeLabel({ ...LABEL, dpa: 512n }, 128), 7), "dpa not 4 KiB aligned");
  const v12 = encodeLabel({ ...LABEL, abstractionGuid: NVDIMM_PFN_GUID }, 256);
  const back = decodeLabel(v12);
  assert.equal(back.abstractionGuid, NVDIMM_PFN_GUID);
  assert.equal(back.typeGuid, "00000000-0000-0000-0000-000000000000");
  assert.ok(slotValid(v12, 7));
  v12[20] ^= 1; // the name: the v1.2 checksum no longer holds
  assert.ok(!slotValid(v12, 7));
  // v1.1 labels carry no checksum: the same change goes unnoticed.
  v11[20] ^= 1;
  assert.ok(slotValid(v11, 7));
});

/** A label area in memory behind the config commands, counting transfers. */
function memoryDimm(maxXfer: number) {
  const bytes = new Uint8Array(AREA);
  const counts = { reads: 0, writes: 0 };
  const config: ConfigAccess = {
    size: AREA,
    maxXfer,
    // deno-lint-ignore require-yield
    *get(offset, length) {
      counts.reads += Math.ceil(length / maxXfer);
      return { rc: 0, data: bytes.slice(offset, offset + length) };
    },
    // deno-lint-ignore require-yield
    *set(offset, data) {
      counts.writes += Math.ceil(data.length / maxXfer);
      bytes.set(data, offset);
      return { rc: 0 };
    },
  };
  return { bytes, counts, config };
}

const noHcall = () => {
  throw new Error("no hcall here");
};

Deno.test("nd_label_data_init: reads the index in max_xfer commands, then the used slots", () => {
  for (const [xfer, indexReads] of [[1, 512], [8, 64]]) {
    const dimm = memoryDimm(xfer);
    const ndd = new DimmLabels(dimm.config);
    assert.equal(runSync(ndd.init(), noHcall), 0);
    assert.equal(dimm.counts.reads, indexReads, `max_xfer ${xfer}`);
    assert.equal(ndd.current, -1, "empty: no index");
    // The kernel initialises the index itself on the first namespace (init_labels).
    assert.equal(runSync(ndd.initLabels(), noHcall), 0);
    const slot = runSync(ndd.writeLabel({ ...LABEL, flags: 0 }), noHcall);
    assert.equal(slot, 0);
    // v1.2 (the kernel's default when it finds no index): 256-byte labels.
    const again = new DimmLabels(dimm.config);
    dimm.counts.reads = 0;
    assert.equal(runSync(again.init(), noHcall), 0);
    assert.equal(again.labelSize, 256);
    assert.equal(dimm.counts.reads, indexReads + 256 / xfer, "the index, then slot 0");
    assert.deepEqual(again.activeLabels().map((l) => [l.slot, l.label.uuid]), [[0, LABEL.uuid]]);
  }
});

Deno.test("label updates: a new slot, the old one freed, the next index written", () => {
  const dimm = memoryDimm(8);
  const ndd = new DimmLabels(dimm.config);
  runSync(ndd.init(), noHcall);
  runSync(ndd.initLabels(), noHcall);
  const first = runSync(ndd.writeLabel(LABEL), noHcall);
  const second = runSync(ndd.writeLabel({ ...LABEL, name: "renamed" }, first), noHcall);
  assert.deepEqual([first, second], [0, 1]);
  // Read back from the media as the next boot does: one active label, the new one.
  const fresh = new DimmLabels(dimm.config);
  runSync(fresh.init(), noHcall);
  assert.deepEqual(fresh.activeLabels().map((l) => [l.slot, l.label.name]), [[1, "renamed"]]);
  // Deleting frees it; the index sequence moved on each write.
  const seqBefore = decodeIndex(dimm.bytes.subarray(fresh.current * 256)).seq;
  runSync(fresh.deleteLabels([1]), noHcall);
  const last = new DimmLabels(dimm.config);
  runSync(last.init(), noHcall);
  assert.deepEqual(last.activeLabels(), []);
  assert.equal(decodeIndex(dimm.bytes.subarray(last.current * 256)).seq, incSeq(seqBefore));
});

Deno.test("fsdax: the info block and memmap take 16 MiB; the info block round trips", () => {
  const layout = fsdaxLayout(1n << 30n);
  assert.deepEqual(layout, {
    dataoff: 16n << 20n,
    npfns: 16383n,
    size: (1n << 30n) - (16n << 20n),
  });
  // The memmap is 1/1024 of the namespace: 2 TiB needs 2 GiB, plus the info block, aligned.
  assert.equal(fsdaxLayout(2n << 40n).dataoff, (2n << 30n) + (16n << 20n));
  const info = {
    uuid: "11111111-2222-4333-8444-555555555555",
    parentUuid: LABEL.uuid,
    ...layout,
    align: 16n << 20n,
  };
  const bytes = encodePfnInfo(info);
  assert.deepEqual(decodePfnInfo(bytes, LABEL.uuid), {
    uuid: info.uuid,
    parentUuid: info.parentUuid,
    dataoff: info.dataoff,
    npfns: info.npfns,
    align: info.align,
  });
  assert.equal(decodePfnInfo(bytes, info.uuid), undefined, "another namespace's info block");
  bytes[100] ^= 1;
  assert.equal(decodePfnInfo(bytes, LABEL.uuid), undefined, "checksum");
});
