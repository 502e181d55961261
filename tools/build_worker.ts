/**
 * Builds the LPAR worker's bundle, `workers/lpar_worker.bundle.js`
 * (`deno task build`): `workers/lpar_worker.ts` and every module it imports
 * in one minified file, comlink left as an import (resolved through the
 * import map and the lockfile like any other). One module instead of about
 * forty, and no inline source maps, make a worker start sooner and hold
 * less: measured by bench/worker_cost.ts against the modules themselves.
 *
 * The bundle's first lines name the modules it was made from (and
 * deno.json, whose import map and compiler options it follows) and a SHA-256
 * of their text, so tests/worker_bundle_test.ts (part of `deno task test`)
 * fails, saying to run this, when any of them changed since.
 *
 * Usage: deno run --allow-read=. --allow-write=workers --allow-run tools/build_worker.ts
 * @module
 */
import {
  BUNDLE_PATH,
  CONFIG_PATH,
  ENTRY_PATH,
  sourcesDigest,
  stamp,
} from "../workers/bundle_stamp.ts";

const deno = Deno.execPath();
const root = new URL("../", import.meta.url);

async function run(args: string[]): Promise<string> {
  const output = await new Deno.Command(deno, { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`deno ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

// The project's own modules in the worker's graph (type-only imports too: a change there
// asks for a rebuild that may change nothing, which is cheap), and the configuration.
const graph = JSON.parse(await run(["info", "--json", ENTRY_PATH])) as {
  modules: { specifier: string }[];
};
const rootPath = root.href;
const sources = graph.modules
  .map((m) => m.specifier)
  .filter((s) => s.startsWith(rootPath))
  .map((s) => s.slice(rootPath.length))
  .concat(CONFIG_PATH)
  .sort();

const temporary = new URL(`${BUNDLE_PATH}.tmp`, root);
try {
  await run([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--minify",
    "--external",
    "comlink",
    "--output",
    temporary.pathname,
    ENTRY_PATH,
  ]);
  const code = await Deno.readTextFile(temporary);
  const digest = await sourcesDigest(sources, (path) => Deno.readFile(new URL(path, root)));
  await Deno.writeTextFile(new URL(BUNDLE_PATH, root), stamp(sources, digest) + code);
  console.log(
    `${BUNDLE_PATH}: ${code.length} bytes from ${sources.length - 1} modules and ${CONFIG_PATH}`,
  );
} finally {
  await Deno.remove(temporary).catch(() => {});
}
