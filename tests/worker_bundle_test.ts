/**
 * The LPAR worker's bundle (workers/lpar_worker.bundle.js, which the threads
 * runtime starts) is built from the modules as they are now: its stamp's
 * digest matches their text. When it does not, `deno task build` makes it so.
 */
import assert from "node:assert/strict";
import {
  BUNDLE_PATH,
  CONFIG_PATH,
  readStamp,
  sourcesDigest,
  stamp,
} from "../workers/bundle_stamp.ts";

const root = new URL("../", import.meta.url);

Deno.test("the LPAR worker's bundle is built from the modules as they are now", async () => {
  const bundle = await Deno.readTextFile(new URL(BUNDLE_PATH, root));
  const found = readStamp(bundle);
  assert.ok(found, `${BUNDLE_PATH} has no stamp: run \`deno task build\``);
  assert.ok(
    found.paths.includes(CONFIG_PATH),
    `${BUNDLE_PATH}'s stamp does not cover ${CONFIG_PATH} (its import map): run \`deno task build\``,
  );
  const digest = await sourcesDigest(found.paths, (path) => Deno.readFile(new URL(path, root)));
  assert.equal(
    digest,
    found.digest,
    `${BUNDLE_PATH} is stale (a module it was built from, or what of ${CONFIG_PATH} it follows, changed): run \`deno task build\``,
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

Deno.test("deno.json counts by its import map and compiler options, not its tasks", async () => {
  const config = {
    imports: { comlink: "npm:comlink@^4.4.2/dist/esm/comlink.mjs" },
    tasks: { build: "deno run tools/build_worker.ts" },
  };
  const digest = (json: unknown, text = JSON.stringify(json)) =>
    sourcesDigest(
      ["a.ts", CONFIG_PATH],
      (path) => Promise.resolve(new TextEncoder().encode(path === CONFIG_PATH ? text : "x")),
    );
  const before = await digest(config);
  const changed = async (json: unknown) => assert.notEqual(await digest(json), before);
  await changed({ ...config, imports: { comlink: "npm:comlink@^4.4.1/dist/esm/comlink.mjs" } });
  await changed({ ...config, imports: { ...config.imports, "./guest/": "./other/" } });
  await changed({ ...config, scopes: { "./guest/": { comlink: "./comlink.ts" } } });
  await changed({ ...config, compilerOptions: { jsx: "react-jsx" } });
  // Neither the tasks nor the layout of the file change what the bundle resolves.
  assert.equal(await digest({ ...config, tasks: { build: "deno run -A tools/b.ts" } }), before);
  assert.equal(await digest(config, JSON.stringify(config, null, 2)), before);
  // Not plain JSON (a comment): its whole text counts.
  const commented = `// a comment\n${JSON.stringify(config)}`;
  assert.notEqual(await digest(config, commented), await digest(config, commented + " "));
});
