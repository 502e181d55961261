/**
 * The README runs as shown: every ```ts block (importing the repository's
 * mod.ts) and every `deno run ... mod.ts ...` / `deno task ...` line of its
 * ```sh blocks, through the CLI's main(). Tasks that are not CLI commands
 * (test, bench) must exist in deno.json; they are not run from here.
 *
 * The ts blocks are imported as data: URLs (no temporary files, so the
 * tests need no write permission), with `./mod.ts` replaced by the
 * repository's mod.ts.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { workerTest } from "./worker_test.ts";

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const tasks: Record<string, string> = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
).tasks;

/** The fenced blocks of a language, in order. */
function blocks(lang: string): string[] {
  const re = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```", "gm");
  return [...readme.matchAll(re)].map((m) => m[1]);
}

/** Splits a shell line into words (no quoting is used in the README). */
function words(line: string): string[] {
  return line.replace(/\s+#.*$/, "").trim().split(/\s+/).filter(Boolean);
}

/** A README command as `main()` arguments, or a reason it is not a CLI command. */
function toCli(line: string): { args: string[] } | { skip: string } {
  let w = words(line);
  if (w[0] === "npx") w = w.slice(w.findIndex((x) => x.startsWith("deno@")) + 1);
  else if (w[0] === "deno") w = w.slice(1);
  if (w[0] === "run") {
    const i = w.indexOf("mod.ts");
    assert.ok(i > 0, `${line}: deno run of something other than mod.ts`);
    return { args: w.slice(i + 1) };
  }
  assert.equal(w[0], "task", `${line}: neither deno run nor deno task`);
  const task = tasks[w[1]];
  assert.ok(task, `${line}: deno.json has no task "${w[1]}"`);
  const t = words(task);
  const i = t.indexOf("mod.ts");
  if (t[0] !== "deno" || t[1] !== "run" || i < 0) {
    return { skip: `task ${w[1]} is not a CLI command` };
  }
  return { args: [...t.slice(i + 1), ...w.slice(2)] };
}

const commands = blocks("sh").flatMap((b) =>
  b.split("\n").filter((l) => /^(npx -y deno@[\d.]+ |deno )(run|task) /.test(l))
);

workerTest("README: it has commands and code to run", () => {
  assert.ok(commands.length >= 10, `only ${commands.length} commands`);
  assert.ok(blocks("ts").length >= 4);
});

for (const line of commands) {
  workerTest(`README command: ${line}`, async () => {
    const cli = toCli(line);
    if ("skip" in cli) return;
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(cli.args, { print: (t) => out.push(t), error: (t) => err.push(t) });
    assert.equal(code, 0, `${line}\n${err.join("\n")}`);
    assert.ok(out.join("").length > 0, `${line} printed nothing`);
  });
}

const modUrl = new URL("../mod.ts", import.meta.url).href;

blocks("ts").forEach((code, i) => {
  const first = code.split("\n").find((l) => l.trim() && !l.startsWith("import")) ?? "";
  workerTest(`README ts block ${i + 1}: ${first.slice(0, 60)}`, async () => {
    const source = code.replaceAll(`from "./mod.ts"`, `from "${modUrl}"`);
    assert.ok(source.includes(modUrl), "the block imports ./mod.ts");
    const log = console.log;
    console.log = () => {};
    try {
      await import(`data:application/typescript;base64,${encode(source)}`);
    } finally {
      console.log = log;
    }
  });
});

function encode(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
