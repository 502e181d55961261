/**
 * The HTML report in a real browser: headless Chromium (Debian's
 * `chromium`) loads the page from a file, runs its one inline script, and
 * the DOM it dumps must show the table and every timeline as drawn; a
 * screenshot must come out as a PNG. Skipped, saying how to install it,
 * when /usr/bin/chromium is missing (`.ci/run` installs it).
 */
import assert from "node:assert/strict";
import { matrixReport } from "../report/html.ts";
import { runMatrix } from "../scenarios/matrix.ts";
import { TraceSession } from "../trace/session.ts";

const CHROMIUM = "/usr/bin/chromium";
/** A hung browser is killed after this; it never bounds a check that is merely slow. */
const HANG_MS = 300_000;

function chromiumMissing(): string | undefined {
  const read = Deno.permissions.querySync({ name: "read", path: CHROMIUM }).state;
  const run = Deno.permissions.querySync({ name: "run", command: CHROMIUM }).state;
  if (read !== "granted" || run !== "granted") {
    return `the test needs --allow-read=${CHROMIUM} --allow-run=${CHROMIUM} (deno task test gives them)`;
  }
  try {
    Deno.statSync(CHROMIUM);
    return undefined;
  } catch {
    return `${CHROMIUM} is missing; install it with: apt-get install -y chromium`;
  }
}

const missing = chromiumMissing();
if (missing) console.warn(`report_test: headless-browser check skipped: ${missing}`);

/** Runs headless Chromium on `args` with a fresh profile; kills it in the end, whatever happens. */
async function chromium(profile: string, args: string[]): Promise<string> {
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
  try {
    const { stdout, success, code } = await child.output();
    assert.ok(success, `chromium exited with ${code}`);
    return new TextDecoder().decode(stdout);
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
  }
}

Deno.test({
  name: "report: headless Chromium shows the matrix table and every story's timeline",
  ignore: missing !== undefined,
  async fn() {
    const trace = new TraceSession();
    const matrix = await runMatrix({
      kernels: ["5.2", "5.4"],
      hypervisors: ["powervm"],
      start: { runtime: "sim", trace },
    });
    const html = matrixReport(matrix, trace);
    const hcalls = html.match(/<rect class="hcall /g)!.length;
    const markers = html.match(/<g class="marker"/g)!.length;
    const dir = await Deno.makeTempDir({ dir: ".", prefix: ".report-test-" });
    try {
      const page = `${dir}/report.html`;
      await Deno.writeTextFile(page, html);
      const url = new URL(page, `file://${Deno.cwd()}/`).href;
      const dom = await chromium(`${dir}/profile`, ["--dump-dom", url]);
      // The inline script ran over what the browser parsed: SVG elements, table rows.
      assert.match(
        dom,
        new RegExp(`rendered: 8 timelines, ${hcalls} hcalls, ${markers} markers, 8 rows`),
      );
      assert.doesNotMatch(dom, /script did not run/);
      assert.match(dom, /<td[^>]*>[^<]*bind err: -68/, "5.2's kexec loses its region");
      assert.match(dom, /data-rc="H_OVERLAP"/);
      assert.match(dom, /<section class="story" id="story-1" data-label="5\.2 powervm kexec">/);
      await chromium(`${dir}/profile`, [
        "--hide-scrollbars",
        "--window-size=1400,1100",
        `--screenshot=${dir}/report.png`,
        url,
      ]);
      const png = await Deno.readFile(`${dir}/report.png`);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
