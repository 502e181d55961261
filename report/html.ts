/**
 * `--report FILE.html`: one self-contained page (no network: inline style,
 * inline SVG, one inline script) with a run's table and a timeline of each
 * story: a lane per LPAR, each hcall a mark coloured by its return code, in
 * the order issued (the time is in each mark's tooltip), and the life-cycle
 * operations (kexec, panic, kdump, reboot, shutdown, DLPAR) as markers.
 * @module
 */
import { isLongBusy, opName, rcName } from "../abi/hcalls.ts";
import type { Matrix } from "../scenarios/matrix.ts";
import { matrixLabel, MODE_TITLES } from "../scenarios/matrix.ts";
import type { SeedReport } from "../swarm/swarm.ts";
import { lparHcalls } from "../trace/join.ts";
import type { SystemTrace, TraceSession } from "../trace/session.ts";

/** Most stories drawn on one page (failing ones first); the rest are counted. */
export const MAX_REPORT_TIMELINES = 60;
/** Most hcalls drawn in one story's timeline; the rest are counted. */
export const MAX_TIMELINE_HCALLS = 600;
/** Most table rows on one page; the rest are counted. */
export const MAX_REPORT_ROWS = 5000;

const MARK = 12;
const LANE = 26;
const LEFT = 110;

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The colour class of a return code. */
export function rcClass(rc: number): string {
  if (rc === 0) return "ok";
  if (rc === 1 || isLongBusy(rc)) return "busy";
  if (rc === -68) return "overlap";
  return "error";
}

const MARKED_OPS = /^(kexec|kdump|panic|reboot|shutdown|DLPAR)/;

/** The time of an event as the tooltip says it. */
function time(ns: number, runtime: string): string {
  const ms = Math.round(ns / 1000) / 1000;
  return `${ms} ms${runtime === "sim" ? " (virtual)" : ""}`;
}

/** One story's timeline as inline SVG. */
export function timelineSvg(system: SystemTrace): string {
  type Mark = { lane: number; start: number; end: number; opcode: number; rc: number };
  const marks: Mark[] = [];
  system.lpars.forEach(({ id }, lane) => {
    for (const { guest } of lparHcalls(system, id).joined) {
      marks.push({ lane, start: guest.start, end: guest.end, opcode: guest.opcode, rc: guest.rc });
    }
  });
  marks.sort((a, b) => a.start - b.start || a.lane - b.lane);
  const shown = marks.slice(0, MAX_TIMELINE_HCALLS);
  const lanes = Math.max(1, system.lpars.length);
  // Operations' markers: several at one place (a panic, then its kdump) get a label row each.
  const markers: Array<{ op: SystemTrace["ops"][number]; index: number; row: number }> = [];
  const rowsAt = new Map<number, number>();
  for (const op of system.ops) {
    if (!MARKED_OPS.test(op.name)) continue;
    let index = shown.findIndex((m) => m.start >= op.start);
    if (index < 0) index = shown.length;
    const row = rowsAt.get(index) ?? 0;
    rowsAt.set(index, row + 1);
    markers.push({ op, index, row });
  }
  const top = 14 + 12 * Math.max(1, ...rowsAt.values());
  const width = LEFT + Math.max(1, shown.length) * MARK + 90;
  const height = top + lanes * LANE + 10;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${width}" ` +
      `height="${height}" viewBox="0 0 ${width} ${height}" role="img" ` +
      `aria-label="${escapeHtml(`timeline of ${system.label}`)}">`,
  );
  system.lpars.forEach(({ name }, lane) => {
    const y = top + lane * LANE;
    parts.push(
      `<text class="lane" x="4" y="${y + 15}">${escapeHtml(name)}</text>`,
      `<line class="lane" x1="${LEFT}" y1="${y + LANE - 2}" x2="${width - 10}" ` +
        `y2="${y + LANE - 2}"/>`,
    );
  });
  // An operation's marker stands before the first hcall issued at or after its start.
  for (const { op, index, row } of markers) {
    const x = LEFT + index * MARK - 1;
    const kind = op.name.split(" ")[0].toLowerCase();
    const label = system.lpars.length > 1 ? `${op.lpar}: ${op.name}` : op.name;
    parts.push(
      `<g class="marker" data-op="${escapeHtml(op.name)}">` +
        `<title>${escapeHtml(`${op.lpar}: ${op.name} at ${time(op.start, system.runtime)}`)}` +
        `</title><line class="marker ${kind}" x1="${x}" y1="${4 + 12 * row}" x2="${x}" ` +
        `y2="${top + lanes * LANE}"/><text class="marker ${kind}" x="${x + 3}" ` +
        `y="${14 + 12 * row}">${escapeHtml(label)}</text></g>`,
    );
  }
  shown.forEach((m, i) => {
    const x = LEFT + i * MARK;
    const y = top + m.lane * LANE + 3;
    const name = opName(m.opcode), rc = rcName(m.rc);
    parts.push(
      `<rect class="hcall ${rcClass(m.rc)}" data-hcall="${name}" data-rc="${rc}" x="${x}" ` +
        `y="${y}" width="${MARK - 2}" height="${LANE - 8}"><title>${
          escapeHtml(
            `${system.lpars[m.lane].name}: ${name} → ${rc} at ${time(m.start, system.runtime)}`,
          )
        }</title></rect>`,
    );
  });
  if (marks.length > shown.length) {
    parts.push(
      `<text class="more" x="${width - 36}" y="14">+${marks.length - shown.length}</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("");
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1b1b1b; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.bad { color: #b00020; font-weight: 600; }
section.story { margin: 18px 0; }
section.story h2 { font-size: 15px; margin: 0 0 4px; }
.timeline { display: block; border: 1px solid #e3e3e3; background: #fcfcfc; }
.timeline text { font: 11px system-ui, sans-serif; fill: #333; }
.timeline line.lane { stroke: #e6e6e6; }
rect.ok { fill: #2e7d32; } rect.busy { fill: #f9a825; }
rect.overlap { fill: #c62828; } rect.error { fill: #6a1b9a; }
line.marker { stroke: #1565c0; stroke-width: 1.5; stroke-dasharray: 3 2; }
line.marker.panic { stroke: #c62828; } text.marker { fill: #1565c0; }
text.marker.panic { fill: #c62828; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
`;

const LEGEND = `<p class="legend"><span><i style="background:#2e7d32"></i>H_SUCCESS</span>` +
  `<span><i style="background:#f9a825"></i>H_BUSY / long busy</span>` +
  `<span><i style="background:#c62828"></i>H_OVERLAP</span>` +
  `<span><i style="background:#6a1b9a"></i>other errors</span>` +
  `<span><i style="background:#1565c0"></i>kexec, kdump, reboot, shutdown, DLPAR</span>` +
  `<span><i style="background:#c62828"></i>panic</span></p>`;

/** Counts what the browser parsed, so a headless check sees the page as drawn. */
const SCRIPT = `document.getElementById("rendered").textContent =
  "rendered: " + document.querySelectorAll("svg.timeline").length + " timelines, " +
  document.querySelectorAll("svg rect.hcall").length + " hcalls, " +
  document.querySelectorAll("svg g.marker").length + " markers, " +
  document.querySelectorAll("table.results tbody tr").length + " rows";`;

function page(title: string, summary: string, table: string, stories: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1><p class="summary">${escapeHtml(summary)}</p>
<p id="rendered">rendered: (script did not run)</p>
${table}
<h2>Timelines</h2>${LEGEND}
<p>Each mark is one hcall, in the order issued, on its LPAR's lane; hover for its time.</p>
${stories}
<script>${SCRIPT}</script>
</body></html>
`;
}

function tableHtml(header: string[], rows: Array<{ cells: string[]; bad: boolean }>): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const shown = rows.slice(0, MAX_REPORT_ROWS);
  const body = shown.map(({ cells, bad }) =>
    `<tr>${
      cells.map((c, i) => `<td${bad && i === cells.length - 1 ? ' class="bad"' : ""}>${c}</td>`)
        .join("")
    }</tr>`
  ).join("\n");
  const more = rows.length > shown.length
    ? `<p>${rows.length - shown.length} more rows not shown (at most ${MAX_REPORT_ROWS}).</p>`
    : "";
  return `<table class="results"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>${more}`;
}

function storiesHtml(systems: readonly SystemTrace[], anchors: Map<string, string>): string {
  const shown = systems.slice(0, MAX_REPORT_TIMELINES);
  const out = shown.map((s) =>
    `<section class="story" id="${anchors.get(s.label) ?? ""}" data-label="${
      escapeHtml(s.label)
    }"><h2>${escapeHtml(s.label)}</h2>${timelineSvg(s)}</section>`
  );
  if (systems.length > shown.length) {
    out.push(
      `<p>${systems.length - shown.length} more stories not drawn ` +
        `(at most ${MAX_REPORT_TIMELINES}).</p>`,
    );
  }
  return out.join("\n");
}

const yesNo = (v: boolean | undefined) => (v === undefined ? "?" : v ? "yes" : "no");

/** The matrix page: the table, then each row's story. */
export function matrixReport(matrix: Matrix, session: TraceSession): string {
  const anchors = new Map<string, string>();
  const rows = matrix.rows.map((r, i) => {
    const label = matrixLabel(r.kernel, r.hypervisor, r.mode);
    anchors.set(label, `story-${i + 1}`);
    const link = `<a href="#story-${i + 1}">${escapeHtml(MODE_TITLES[r.mode])}</a>`;
    const cells = [escapeHtml(r.kernel), escapeHtml(r.hypervisor), link];
    if (!r.ok) {
      return { cells: [...cells, "-", "-", "-", "-", escapeHtml(`FAILED: ${r.error}`)], bad: true };
    }
    return {
      cells: [
        ...cells,
        yesNo(r.regionBack),
        yesNo(r.addressReused),
        escapeHtml(r.data ?? "?"),
        String(r.hcalls),
        escapeHtml(r.messages?.length ? r.messages.join("; ") : "(none)"),
      ],
      bad: r.data !== "intact",
    };
  });
  const header = [
    "kernel",
    "hypervisor",
    "scenario",
    "region back",
    "address reused",
    "data",
    "hcalls",
    "messages logged",
  ];
  const systems = session.systems;
  return page(
    "papr-scm-sim matrix",
    `${matrix.rows.length} stories; ${matrix.rows.filter((r) => r.data === "intact").length} ` +
      `kept their data; runtime ${systems[0]?.runtime ?? "?"}`,
    tableHtml(header, rows),
    storiesHtml(systems, anchors),
  );
}

/** The swarm page: a row per seed, then the seeds' timelines, failing seeds first. */
export function swarmReport(reports: readonly SeedReport[], session: TraceSession): string {
  const anchors = new Map<string, string>();
  const rows = reports.map(({ result }) => {
    anchors.set(`seed ${result.seed}`, `seed-${result.seed}`);
    const failure = result.failure
      ? escapeHtml(`${result.failure.invariant}: ${result.failure.message}`)
      : "";
    return {
      cells: [
        `<a href="#seed-${result.seed}">${result.seed}</a>`,
        result.verdict,
        String(result.lpars),
        String(result.ops),
        String(result.steps),
        result.traceHash,
        failure,
      ],
      bad: result.verdict === "fail",
    };
  });
  const failing = new Set(
    reports.filter((r) => r.result.failure).map((r) => `seed ${r.case.seed}`),
  );
  const systems = [...session.systems].sort((a, b) =>
    Number(failing.has(b.label)) - Number(failing.has(a.label))
  );
  return page(
    "papr-scm-sim swarm",
    `${reports.length} seeds shown; ${failing.size} of them failed`,
    tableHtml(["seed", "verdict", "LPARs", "operations", "steps", "trace hash", "failure"], rows),
    storiesHtml(systems, anchors),
  );
}

/** Writes the matrix page. */
export async function writeMatrixReport(
  file: string,
  matrix: Matrix,
  session: TraceSession,
): Promise<void> {
  await Deno.writeTextFile(file, matrixReport(matrix, session));
}

/** Writes the swarm page. */
export async function writeSwarmReport(
  file: string,
  reports: readonly SeedReport[],
  session: TraceSession,
): Promise<void> {
  await Deno.writeTextFile(file, swarmReport(reports, session));
}
