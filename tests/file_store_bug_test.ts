/**
 * FileStore turns what the OS throws into a StorageIoError (the asker's
 * machine check), but a bug in how it is called stays a bug: a JavaScript
 * RangeError or TypeError is not an I/O error of the host's disk, and
 * passing it off as one would hide it as a guest's machine check.
 */
import assert from "node:assert/strict";
import { FileStore } from "../storage/file_store.ts";
import { StorageIoError } from "../storage/types.ts";

Deno.test("a file store: a bad call is a bug (RangeError), not an I/O error; a closed file is one", () => {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = FileStore.open(dir);
    const drc = store.open({ index: 1, uuid: "u", blockSize: 65536n, blocks: 1, metadataSize: 8 });
    assert.throws(
      () => drc.read(0, -1),
      (error: unknown) => error instanceof RangeError && !(error instanceof StorageIoError),
    );
    drc.close();
    assert.throws(() => drc.read(0, 8), StorageIoError, "an OS error on a closed file stays one");
    store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
