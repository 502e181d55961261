/**
 * Command-line edge cases (issue 10, item 11): an option given twice is a
 * usage error (exit code 2) naming the option, not the last one silently.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("cli edges: a repeated option is refused, naming it", async () => {
  const cases: [string[], string][] = [
    [
      ["scenario", "kexec", "--kernel", "5.3", "--kernel", "5.4"],
      'error: --kernel given twice (--kernel "5.3", then --kernel "5.4"); give it once',
    ],
    [
      ["matrix", "--kernel=5.3", "--runtime", "sim", "--kernel", "5.3"],
      'error: --kernel given twice (--kernel "5.3", then --kernel "5.3"); give it once',
    ],
    [
      ["show", "--config", "a.json", "--config", "b.json", "dmesg"],
      'error: --config given twice (--config "a.json", then --config "b.json"); give it once',
    ],
    [
      ["scenario", "kexec", "--runtime", "sim", "--runtime", "threads"],
      'error: --runtime given twice (--runtime "sim", then --runtime "threads"); give it once',
    ],
    [["demo", "--json", "--json"], "error: --json given twice (--json, then --json); give it once"],
    [["help", "-h", "--help"], "error: --help given twice (-h, then --help); give it once"],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err, message);
    assert.equal(r.out, "");
  }
});

Deno.test("cli edges: options given once still work", async () => {
  const r = await cli("help", "--json", "-h");
  assert.equal(r.code, 0);
  assert.match(r.out, /^papr-scm-sim/);
});
