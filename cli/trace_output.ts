/**
 * `--trace FILE`, `--ftrace FILE` and `--report FILE.html`: the CLI's side of
 * traces. A session is made when one is asked for; the command runs its
 * systems with it; the files are written when the command is done.
 * @module
 */
import { TraceSession } from "../trace/session.ts";

/** The options that ask for trace output. */
export interface TraceFlags {
  trace?: string;
  ftrace?: string;
  report?: string;
}

/** A session when `--trace`, `--ftrace` or `--report` was given. */
export function sessionFor(flags: TraceFlags): TraceSession | undefined {
  return flags.trace !== undefined || flags.ftrace !== undefined || flags.report !== undefined
    ? new TraceSession()
    : undefined;
}

/** Writes the files asked for; what was lost to the limits goes to `warn`. */
export async function writeTraceFiles(
  session: TraceSession,
  flags: TraceFlags,
  warn: (text: string) => void,
): Promise<void> {
  if (session.systems.length === 0) {
    // A bad command line, or a command that runs no system: no empty file.
    warn("trace: no system ran; no trace file written");
    return;
  }
  if (flags.trace !== undefined) await Deno.writeTextFile(flags.trace, session.perfetto());
  if (flags.ftrace !== undefined) await Deno.writeTextFile(flags.ftrace, session.ftrace() + "\n");
  for (const line of session.truncation()) warn(`trace: ${line}`);
}
