/**
 * The LPAR worker's bundle (workers/lpar_worker.bundle.js, which the threads
 * runtime starts) is built from the modules as they are now: its stamp's
 * digest matches their text. When it does not, `deno task build` makes it so.
 */
import assert from "node:assert/strict";
import { BUNDLE_PATH, readStamp, sourcesDigest, stamp } from "../workers/bundle_stamp.ts";

const root = new URL("../", import.meta.url);

Deno.test("the LPAR worker's bundle is built from the modules as they are now", async () => {
  const bundle = await Deno.readTextFile(new URL(BUNDLE_PATH, root));
  const found = readStamp(bundle);
  assert.ok(found, `${BUNDLE_PATH} has no stamp: run \`deno task build\``);
  const digest = await sourcesDigest(found.paths, (path) => Deno.readFile(new URL(path, root)));
  assert.equal(
    digest,
    found.digest,
    `${BUNDLE_PATH} is stale (a module it was built from changed): run \`deno task build\``,
  );
});

Deno.test("a bundle's stamp: what it names is what is read back", async () => {
  const text = stamp(["a.ts", "b/c.ts"], "ab12") + "code();\n";
  assert.deepEqual(readStamp(text), { paths: ["a.ts", "b/c.ts"], digest: "ab12" });
  assert.equal(readStamp("code();\n"), undefined);
  const read = (texts: Record<string, string>) => (path: string) =>
    Promise.resolve(new TextEncoder().encode(texts[path]));
  const before = await sourcesDigest(["a.ts"], read({ "a.ts": "x" }));
  assert.notEqual(before, await sourcesDigest(["a.ts"], read({ "a.ts": "y" })));
  // A path's bytes cannot pass for another's.
  assert.notEqual(
    await sourcesDigest(["a.ts", "b.ts"], read({ "a.ts": "xy", "b.ts": "" })),
    await sourcesDigest(["a.ts", "b.ts"], read({ "a.ts": "x", "b.ts": "y" })),
  );
});
