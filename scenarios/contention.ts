/**
 * Contention: N LPARs boot at once. Each has a large nvdimm of its own whose
 * bind takes many slices (small `bindSliceBlocks`), and LPARs 1+2, 3+4, ...
 * share one more nvdimm (the same DRC, described identically in both). Every
 * shared DRC must end up bound by exactly one LPAR of its pair; the other's
 * probe fails (H_OVERLAP, and `bind err` in its log on 5.2 and 5.4).
 * @module
 */
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import type { HcallTrace } from "../actors/managed_system.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";

/** Options of a contention run. */
export interface ContentionOptions {
  /** LPARs booting at once (at least 1; pairs share a DRC). */
  lpars: number;
  /** Blocks of each LPAR's own nvdimm (default 64). */
  blocks?: number;
  /** Blocks of each shared nvdimm (default 16). */
  sharedBlocks?: number;
  /** Bytes per block (default 1 MiB, so SCM buffers stay small). */
  blockSize?: number;
  /** Blocks per BIND_MEM slice (default 2: a 64-block bind takes 32 hcalls). */
  bindSliceBlocks?: number;
  /** Kernel of every LPAR (default "5.4"). */
  kernel?: KernelVersion;
  /** Which runtime, and its seed (default: threads). */
  start?: StartOptions;
  /** Hears each LPAR's boot end: how many of how many (a progress bar). */
  onBooted?: (done: number, total: number) => void;
}

/** One LPAR's view of the run. */
export interface ContentionLpar {
  name: string;
  /** Milliseconds from the common start until its boot (and so its binds) ended. */
  bindMs: number;
  /** hcalls it issued during boot. */
  hcalls: number;
  /** Of which H_SCM_BIND_MEM. */
  binds: number;
  /** Answers H_BUSY (a bind slice done, more to come). */
  busy: number;
  /** Answers H_OVERLAP. */
  overlaps: number;
  /** Regions its kernel registered. */
  regions: number;
  /** `bind err` lines in its log. */
  bindErrors: string[];
}

/** Who got one shared DRC. */
export interface SharedDrcOutcome {
  drc: number;
  /** The two LPARs that share it. */
  lpars: [string, string];
  /** LPARs holding blocks of it (exactly one expected). */
  holders: string[];
  winner?: string;
  loser?: string;
  /** Whether the loser was answered H_OVERLAP. */
  loserSawOverlap: boolean;
  /** Whether the loser logged `bind err`. */
  loserLoggedBindErr: boolean;
  /** Whether every block of the DRC is bound to the winner. */
  fullyBound: boolean;
}

/** What a contention run shows. */
export interface ContentionReport {
  lpars: number;
  blocks: number;
  sharedBlocks: number;
  bindSliceBlocks: number;
  kernel: KernelVersion;
  /** Milliseconds until the last LPAR finished booting. */
  wallMs: number;
  perLpar: ContentionLpar[];
  shared: SharedDrcOutcome[];
  /** hcalls answered while the LPARs booted. */
  totalHcalls: number;
  /** Invariant violations afterwards (none expected). */
  invariants: string[];
  /** Whether every shared DRC has exactly one winner and every own nvdimm is bound. */
  ok: boolean;
}

/** DRC of LPAR `i`'s own nvdimm (0-based). */
const ownDrc = (i: number) => 0x44600000 + i;
/** DRC shared by pair `p` (LPARs 2p and 2p+1, 0-based). */
const sharedDrc = (p: number) => 0x44700000 + p;

/**
 * Boots `lpars` LPARs at once on one managed system and reports bind latency,
 * hcall counts and who won each shared DRC. The system is stopped before this
 * returns.
 *
 * @example
 * ```ts
 * const report = await runContention({ lpars: 8 });
 * console.log(formatContention(report));
 * ```
 */
export async function runContention(options: ContentionOptions): Promise<ContentionReport> {
  const n = options.lpars;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`lpars: ${JSON.stringify(n)} is not valid; expected an integer >= 1`);
  }
  const blocks = options.blocks ?? 64, sharedBlocks = options.sharedBlocks ?? 16;
  const blockSize = options.blockSize ?? 1 << 20;
  const bindSliceBlocks = options.bindSliceBlocks ?? 2;
  const kernel = options.kernel ?? "5.4";
  const names = Array.from({ length: n }, (_, i) => `lpar${i + 1}`);
  const system = await ManagedSystem.start({
    hypervisor: { bindSliceBlocks },
    lpars: names.map((name, i) => {
      const partner = i ^ 1;
      const nvdimms = [{ drc: ownDrc(i), blocks, blockSize }];
      if (partner < n) nvdimms.push({ drc: sharedDrc(i >> 1), blocks: sharedBlocks, blockSize });
      return { name, kernel, nvdimms };
    }),
  }, options.start);
  // The machine's clock: virtual on sim, so a seed's output has no wall-clock figure.
  const ms = () => system.clock() / 1e6;
  try {
    await system.traceStart();
    const t0 = ms();
    const bindMs = new Map<string, number>();
    await Promise.all(system.lpars.map(async (lpar) => {
      await lpar.boot();
      bindMs.set(lpar.name, ms() - t0);
      options.onBooted?.(bindMs.size, n);
    }));
    const wallMs = ms() - t0;
    const trace: HcallTrace[] = await system.traceTake();
    const table = await system.bindings();
    const invariants = await system.invariants();
    const perLpar: ContentionLpar[] = [];
    for (const lpar of system.lpars) {
      const mine = trace.filter((r) => r.lpar === lpar.name);
      const dmesg = await lpar.dmesg();
      perLpar.push({
        name: lpar.name,
        bindMs: bindMs.get(lpar.name) ?? NaN,
        hcalls: mine.length,
        binds: mine.filter((r) => r.hcall === "H_SCM_BIND_MEM").length,
        busy: mine.filter((r) => r.rc === "H_BUSY").length,
        overlaps: mine.filter((r) => r.rc === "H_OVERLAP").length,
        regions: (await lpar.regions()).length,
        bindErrors: dmesg.filter((line) => line.includes("bind err")),
      });
    }
    const shared: SharedDrcOutcome[] = [];
    for (let p = 0; 2 * p + 1 < n; p++) {
      const drc = sharedDrc(p), pair: [string, string] = [names[2 * p], names[2 * p + 1]];
      const rows = table.filter((b) => b.drc === drc);
      const holders = [...new Set(rows.map((b) => b.lpar))];
      const winner = holders.length === 1 ? holders[0] : undefined;
      const loser = winner ? pair.find((l) => l !== winner) : undefined;
      const loserView = perLpar.find((l) => l.name === loser);
      shared.push({
        drc,
        lpars: pair,
        holders,
        winner,
        loser,
        loserSawOverlap: (loserView?.overlaps ?? 0) > 0,
        loserLoggedBindErr: (loserView?.bindErrors.length ?? 0) > 0,
        fullyBound: winner !== undefined && rows.length === sharedBlocks &&
          rows.every((b) => b.state === "bound"),
      });
    }
    const ownBound = system.lpars.every((_, i) =>
      table.filter((b) => b.drc === ownDrc(i) && b.lpar === names[i] && b.state === "bound")
        .length === blocks
    );
    return {
      lpars: n,
      blocks,
      sharedBlocks,
      bindSliceBlocks,
      kernel,
      wallMs,
      perLpar,
      shared,
      totalHcalls: trace.length,
      invariants,
      ok: ownBound && invariants.length === 0 &&
        shared.every((s) => s.winner !== undefined && s.fullyBound && s.loserSawOverlap),
    };
  } finally {
    await system.stop();
  }
}

/** The report as text: a per-LPAR table, then who won each shared DRC. */
export function formatContention(report: ContentionReport): string {
  const out = [
    `contention: ${report.lpars} LPARs (kernel ${report.kernel}) booting at once, ` +
    `${report.blocks}-block nvdimm each, ${report.sharedBlocks}-block nvdimm shared per pair, ` +
    `bind slice ${report.bindSliceBlocks} blocks`,
    "",
  ];
  const rows = [["lpar", "bind ms", "hcalls", "BIND_MEM", "H_BUSY", "H_OVERLAP", "regions"]];
  for (const l of report.perLpar) {
    rows.push([
      l.name,
      l.bindMs.toFixed(3),
      String(l.hcalls),
      String(l.binds),
      String(l.busy),
      String(l.overlaps),
      String(l.regions),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const [k, r] of rows.entries()) {
    out.push(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
    if (k === 0) out.push(widths.map((w) => "-".repeat(w)).join("  "));
  }
  out.push("");
  for (const s of report.shared) {
    const drc = `0x${s.drc.toString(16)}`;
    if (!s.winner) {
      out.push(`shared ${drc} (${s.lpars.join(", ")}): NO SINGLE WINNER, held by [${s.holders}]`);
      continue;
    }
    const loserNote = [
      s.loserSawOverlap ? "got H_OVERLAP" : "never saw H_OVERLAP",
      s.loserLoggedBindErr ? "logged bind err" : "no bind err logged",
    ].join(", ");
    out.push(`shared ${drc} (${s.lpars.join(", ")}): won by ${s.winner}; ${s.loser} ${loserNote}`);
  }
  if (report.shared.length === 0) out.push("no shared DRC (fewer than 2 LPARs)");
  out.push("");
  out.push(
    `${report.totalHcalls} hcalls in ${report.wallMs.toFixed(3)} ms; invariants: ${
      report.invariants.length ? report.invariants.join("; ") : "none violated"
    }; ${report.ok ? "OK" : "NOT OK"}`,
  );
  return out.join("\n");
}
