/**
 * Issue 12 item 6: what publishing and the generated docs depend on, checked
 * where a test can check it (the dry run itself is `deno publish --dry-run`).
 * @module
 */
import assert from "node:assert/strict";
import { liveWorkerCount, spawnWorker, terminateWorker } from "../actors/workers.ts";
import * as mod from "../mod.ts";

Deno.test("workers are named after what they run, so an uncaught error says which", async () => {
  const { worker } = spawnWorker(
    new URL("./fixtures/name_worker.ts", import.meta.url),
    "LPAR lpar7",
    () => {},
  );
  try {
    const name = await new Promise((resolve) => worker.onmessage = (e) => resolve(e.data));
    assert.equal(name, "LPAR lpar7");
  } finally {
    terminateWorker(worker);
  }
  assert.equal(liveWorkerCount(), 0);
});

Deno.test("the Lpar class shows no managed-system internals", () => {
  const members = Object.getOwnPropertyNames(mod.Lpar.prototype);
  for (const internal of ["exclusive", "crashed", "hotplugAdd", "hotplugRemove", "forget"]) {
    assert.ok(!members.includes(internal), `Lpar.prototype.${internal} is public`);
  }
  assert.ok(members.includes("kexec") && members.includes("readLabel"));
});

Deno.test("deno.json: license, publish exclusions, fast-check 4, deno bench's one file", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(config.license, "MIT");
  await Deno.stat(new URL("../LICENSE", import.meta.url));
  // .git: in a worktree it is a file, and the dry run listed it.
  for (const dir of ["tests/", "bench/", ".git"]) assert.ok(config.publish.exclude.includes(dir));
  assert.match(config.imports["fast-check"], /^npm:fast-check@\^4\./);
  assert.deepEqual(config.bench.include, ["bench/story_bench.ts"]);
});
