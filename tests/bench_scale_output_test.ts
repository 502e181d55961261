/**
 * The bench's 1,000-LPAR row comes from a process of its own
 * (bench/bench.ts's scaleProcess): what that process printed is checked, so
 * output that is not bench/scale.ts's JSON line is a clear error naming what
 * was wrong, not NaN figures or a bare "Unexpected end of JSON input".
 */
import assert from "node:assert/strict";
import { parseScaleOutput } from "../bench/bench.ts";

const LINE = {
  lpars: 3,
  wallS: 1.5,
  startS: 0.5,
  bootS: 0.5,
  kexecS: 0.5,
  stopS: 0.25,
  cpuUserS: 2,
  cpuSystemS: 0.5,
  peakMiB: 90,
  ok: true,
};

Deno.test("bench: the scale process's last JSON line becomes its figures", () => {
  const out = `a warning\n${JSON.stringify(LINE)}\n`;
  assert.deepEqual(parseScaleOutput(out, 3), {
    lpars: 3,
    nvdimms: 2,
    wallMs: 1500,
    stopMs: 250,
    cpuUserMs: 2000,
    cpuSystemMs: 500,
    peakRssMiB: 90,
    ok: true,
  });
  assert.equal(parseScaleOutput(JSON.stringify({ ...LINE, ok: false }), 3).ok, false);
});

Deno.test("bench: scale process output that is not its JSON line is a clear error", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["no output", "", /last line is not JSON/],
    ["a line that is not JSON", "Killed\n", /last line is not JSON.*"Killed"/],
    ["JSON that is no object", "[1, 2]", /not an object/],
    ["another count", JSON.stringify({ ...LINE, lpars: 4 }), /lpars is not 3/],
    ["a missing figure", JSON.stringify({ ...LINE, wallS: undefined }), /wallS is not a number/],
    ["a figure that is text", JSON.stringify({ ...LINE, peakMiB: "90" }), /peakMiB is not/],
    ["a negative figure", JSON.stringify({ ...LINE, stopS: -1 }), /stopS is not a number >= 0/],
    ["no verdict", JSON.stringify({ ...LINE, ok: "yes" }), /ok is not true or false/],
  ];
  for (const [name, out, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseScaleOutput(out, 3), (error: Error) => {
        assert.match(error.message, /^scale run of 3 LPARs: /);
        assert.match(error.message, message);
        assert.match(error.message, /expected bench\/scale\.ts's JSON line/);
        return true;
      });
    });
  }
});
