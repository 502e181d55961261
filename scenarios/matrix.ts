/**
 * The matrix: for every kernel version under both hypervisor personalities,
 * what kexec, panic-then-kdump, a clean reboot and shutdown-then-activate do
 * to the seed's region. One row per run, one table for all.
 *
 * @example
 * ```ts
 * import { formatMatrix, runMatrix } from "./matrix.ts";
 * const matrix = await runMatrix({ kernels: ["5.4"], hypervisors: ["powervm"], modes: ["kexec"] });
 * console.log(formatMatrix(matrix));
 * ```
 * @module
 */
import type { StartOptions } from "../actors/managed_system.ts";
import type { SystemConfig } from "../actors/config.ts";
import type { Personality } from "../core/types.ts";
import { KERNEL_VERSIONS, type KernelVersion } from "../guest/papr_scm/mod.ts";
import { type KexecMode, runKexecStory } from "./kexec.ts";

/** The modes the matrix runs, in column order. */
export const MATRIX_MODES: readonly KexecMode[] = ["kexec", "panic", "reboot", "shutdown"];

/** What the matrix calls each mode. */
export const MODE_TITLES: Readonly<Record<KexecMode, string>> = {
  kexec: "kexec",
  panic: "panic+kdump",
  "panic-mid-bind": "panic mid-bind+kdump",
  reboot: "clean reboot",
  shutdown: "shutdown+activate",
};

/** One run of the matrix. */
export interface MatrixRow {
  /** Kernel version of the run. */
  kernel: KernelVersion;
  /** Hypervisor personality of the run. */
  hypervisor: Personality;
  /** How the old kernel went away. */
  mode: KexecMode;
  /** Whether the run completed; if not, `error` says why and the rest is unknown. */
  ok: boolean;
  /** Why the run did not complete. */
  error?: string;
  /** Whether the new kernel has a region for the nvdimm. */
  regionBack?: boolean;
  /** Whether the region came back at the address it had before. */
  addressReused?: boolean;
  /** Whether the data written before came back after. */
  data?: "intact" | "corrupted" | "lost" | "not written" | "unreachable";
  /** How many hcalls were issued after the event. */
  hcalls?: number;
  /** Every hcall after the event, `NAME→RC`. */
  hcallTrace?: string[];
  /** papr_scm messages of the new kernel. */
  messages?: string[];
}

/** The matrix's result. */
export interface Matrix {
  /** One row per run, hypervisor by kernel by mode. */
  rows: MatrixRow[];
}

/** What to run (default: everything). */
export interface MatrixOptions {
  /** Kernel versions (default: every one). */
  kernels?: readonly KernelVersion[];
  /** Hypervisor personalities (default: powervm and qemu). */
  hypervisors?: readonly Personality[];
  /** Modes (default: MATRIX_MODES). */
  modes?: readonly KexecMode[];
  /** Use this system (its first LPAR's first nvdimm) instead of the seed's. */
  config?: SystemConfig;
  /** Which runtime, and its seed (default: threads). */
  start?: StartOptions;
  /** Hears each row as it is done: how many are done of how many (a progress bar). */
  onRow?: (done: number, total: number, row: MatrixRow) => void;
}

/** A matrix row's story, as its system is named in a trace. */
export function matrixLabel(kernel: string, hypervisor: string, mode: KexecMode): string {
  return `${kernel} ${hypervisor} ${MODE_TITLES[mode]}`;
}

/**
 * Runs every combination, each on a fresh system; a failing one becomes a row saying so.
 *
 * @example
 * ```ts
 * import { runMatrix } from "./matrix.ts";
 * const { rows } = await runMatrix({ kernels: ["5.3"], hypervisors: ["qemu"], modes: ["panic"] });
 * console.log(rows[0].regionBack, rows[0].data);
 * ```
 */
export async function runMatrix(options: MatrixOptions = {}): Promise<Matrix> {
  const rows: MatrixRow[] = [];
  const hypervisors = options.hypervisors ?? ["powervm", "qemu"] as const;
  const kernels = options.kernels ?? KERNEL_VERSIONS;
  const modes = options.modes ?? MATRIX_MODES;
  const total = hypervisors.length * kernels.length * modes.length;
  for (const hypervisor of hypervisors) {
    for (const kernel of kernels) {
      for (const mode of modes) {
        try {
          const r = await runKexecStory({
            kernel,
            hypervisor,
            mode,
            config: options.config,
            start: options.start?.trace
              ? { ...options.start, traceLabel: matrixLabel(kernel, hypervisor, mode) }
              : options.start,
          });
          rows.push({
            kernel,
            hypervisor,
            mode,
            ok: true,
            regionBack: r.regionBack,
            addressReused: r.addressReused,
            data: r.pattern,
            hcalls: r.hcallCount,
            hcallTrace: r.hcalls.map((h) => `${h.hcall}→${h.rc}`),
            messages: r.messages,
          });
        } catch (error) {
          const message = (error as Error)?.message ?? String(error);
          rows.push({ kernel, hypervisor, mode, ok: false, error: message.split("\n")[0] });
        }
        options.onRow?.(rows.length, total, rows[rows.length - 1]);
      }
    }
  }
  return { rows };
}

const yesNo = (v: boolean | undefined) => (v === undefined ? "?" : v ? "yes" : "no");

/** The matrix as one table. */
export function formatMatrix(matrix: Matrix): string {
  const header = ["kernel", "hypervisor", "scenario", "region back", "address reused", "data"];
  const cells = matrix.rows.map((r) => {
    const row = [r.kernel, r.hypervisor, MODE_TITLES[r.mode]];
    if (!r.ok) return [...row, "-", "-", "-", "-", `FAILED: ${r.error}`];
    return [
      ...row,
      yesNo(r.regionBack),
      yesNo(r.addressReused),
      r.data ?? "?",
      String(r.hcalls),
      r.messages?.length ? r.messages.join("; ") : "(none)",
    ];
  });
  const all = [[...header, "hcalls", "messages logged"], ...cells];
  const widths = all[0].map((_, i) =>
    i === all[0].length - 1 ? 0 : Math.max(...all.map((row) => row[i].length))
  );
  const line = (row: string[]) =>
    row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  const rule = widths.map((w, i) => "-".repeat(i === widths.length - 1 ? 15 : w)).join("  ");
  return [line(all[0]), rule, ...all.slice(1).map(line)].join("\n");
}
