/**
 * The namespace label update protocol through the real guest path: ndctl
 * commands (`guest/ndctl_commands.ts`) on the kernel's label state
 * (`guest/labels/ndd.ts`), each label write a series of WRITE_METADATA
 * hcalls of the driver's transfer size (one byte on 5.2, eight from 5.3).
 * Every WRITE_METADATA that returned is a crash point of the explorer (the
 * label area is durable when the hcall returns, `storage/persistence.ts`);
 * a crash inside one leaves none of its bytes or all of them, which are the
 * points before and after it: its at most eight bytes, at an 8-byte aligned
 * offset, are the unit that cannot tear.
 *
 * The operations, in order: `create-namespace` onto empty labels, another
 * onto labels holding one namespace, `destroy-namespace` of each, a create
 * onto empty labels whose slots still hold the destroyed namespaces' labels,
 * and `init-labels --force` over it (its region disabled and enabled
 * around). After a crash anywhere, a fresh system booted on the image (the
 * same kernel) must probe the dimm and list the namespaces (uuid, size,
 * mode, name) of the set before or after the operation in progress, never
 * a mix.
 *
 * @example
 * ```ts
 * import { explore } from "./explore.ts";
 * import { labelsNdctlWorkload } from "./labels_ndctl.ts";
 * const report = await explore(labelsNdctlWorkload("5.4"), { seed: 1 });
 * console.log(report.statesExplored, report.failures.length); // every crash point; 0
 * ```
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import type { Lpar } from "../actors/lpar.ts";
import type { Json } from "../guest/ndctl.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";
import type { CrashWorkload } from "./explore.ts";
import { INDEX_FIRST_DRIVERS } from "./index_first_driver.ts";

/** One namespace as the check compares it. */
export interface NamespaceFacts {
  /** Its uuid. */
  uuid: string;
  /** Bytes. */
  size: number;
  /** `raw` or `fsdax`. */
  mode: string;
  /** Its `alt_name` ("" for none). */
  name: string;
}

/** Namespaces with a size as `ndctl list -N` shows them, sorted by uuid. */
export async function namespaceSet(lpar: Lpar): Promise<NamespaceFacts[]> {
  const json = await lpar.ndctlJson({ namespaces: true }) as unknown;
  const list = (Array.isArray(json) ? json : json ? [json] : []) as Array<Record<string, Json>>;
  return list
    .map((n) => ({
      uuid: String(n.uuid ?? ""),
      size: Number(n.size ?? 0),
      mode: String(n.mode ?? ""),
      name: String(n.name ?? ""),
    }))
    .filter((n) => n.size > 0)
    .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
}

/** A set as one line: `{name:mode:size:uuid8, ...}`. */
export function describeSet(set: readonly NamespaceFacts[]): string {
  return `{${set.map((n) => `${n.name}:${n.mode}:${n.size >> 20}M:${n.uuid.slice(0, 8)}`)}}`;
}

/** One operation of the workload: its label, and the ndctl commands it runs. */
interface Operation {
  label: string;
  run(lpar: Lpar): Promise<void>;
}

async function ndctl(lpar: Lpar, args: string[]): Promise<void> {
  const out = await lpar.ndctlRun(args);
  if (out.rc !== 0) {
    throw new Error(`ndctl ${args.join(" ")} failed (${out.rc}): ${out.stderr.trim()}`);
  }
}

/** The dev of the namespace named `name` (`ndctl list -N`). */
async function devOf(lpar: Lpar, name: string): Promise<string> {
  const json = await lpar.ndctlJson({ namespaces: true }) as unknown;
  const list = (Array.isArray(json) ? json : json ? [json] : []) as Array<Record<string, Json>>;
  const ns = list.find((n) => n.name === name);
  if (!ns) throw new Error(`no namespace named ${name} to destroy`);
  return String(ns.dev);
}

const create = (name: string, label: string): Operation => ({
  label,
  run: (lpar) =>
    ndctl(lpar, ["create-namespace", "--size", "256M", "--mode", "raw", "--name", name]),
});

const destroy = (name: string): Operation => ({
  label: `destroy-namespace ${name}`,
  run: async (lpar) => ndctl(lpar, ["destroy-namespace", "--force", await devOf(lpar, name)]),
});

/** The operations explored, in order (the set before the first is the setup's: empty labels). */
const OPERATIONS: readonly Operation[] = [
  create("alpha", "create-namespace alpha onto empty labels"),
  create("beta", "create-namespace beta onto labels holding alpha"),
  destroy("alpha"),
  destroy("beta"),
  create("gamma", "create-namespace gamma onto empty labels with stale slots"),
  {
    label: "init-labels --force over gamma",
    async run(lpar) {
      await ndctl(lpar, ["disable-region", "region0"]);
      await ndctl(lpar, ["init-labels", "--force", "nmem0"]);
      await ndctl(lpar, ["enable-region", "region0"]);
    },
  },
];

/**
 * Crash points past which 5.2 is sampled: its one-byte writes make 9,479 (the
 * others make 1,191, all explored under the explorer's default bound).
 */
const MAX_CRASH_POINTS_5_2 = 1_000;

const same = (a: readonly NamespaceFacts[], b: readonly NamespaceFacts[]) =>
  a.length === b.length &&
  a.every((n, i) =>
    n.uuid === b[i].uuid && n.size === b[i].size && n.mode === b[i].mode && n.name === b[i].name
  );

/** The workload's name for a kernel (`labels-ndctl` is 5.4). */
export function labelsNdctlName(kernel: KernelVersion, broken = false): string {
  return broken
    ? "labels-ndctl-broken"
    : kernel === "5.4"
    ? "labels-ndctl"
    : `labels-ndctl-${kernel}`;
}

/**
 * The workload on one kernel version. `broken` runs 5.4 with libnvdimm
 * writing each index before its label slot (`crash/index_first_driver.ts`):
 * failures are then the expected outcome.
 */
export function labelsNdctlWorkload(kernel: KernelVersion, broken = false): CrashWorkload {
  if (broken && kernel !== "5.4") {
    throw new RangeError(`labelsNdctlWorkload: the broken variant is 5.4's, not ${kernel}`);
  }
  const config: SystemConfig = {
    lpars: [{
      name: "lpar1",
      kernel,
      nvdimms: [{ drc: "0x44100002", blocks: 4, blockSize: 256 << 20 }],
    }],
  };
  /** The set after the setup, then after each operation (filled by `run`). */
  let sets: NamespaceFacts[][] = [];
  return {
    name: labelsNdctlName(kernel, broken),
    summary:
      `${
        broken ? "5.4 writing each index BEFORE its label slot" : kernel
      }: ndctl create-, destroy-namespace, init-labels; crash after every WRITE_METADATA: ` +
      `the namespaces read back as the set before or after the operation`,
    config,
    expectFailure: broken,
    drivers: broken ? INDEX_FIRST_DRIVERS : undefined,
    maxCrashPoints: kernel === "5.2" ? MAX_CRASH_POINTS_5_2 : undefined,
    async setup({ lpar }) {
      await ndctl(lpar, ["disable-region", "region0"]);
      await ndctl(lpar, ["init-labels", "nmem0"]);
      await ndctl(lpar, ["enable-region", "region0"]);
    },
    async run({ lpar, mark }) {
      sets = [await namespaceSet(lpar)];
      for (const [i, op] of OPERATIONS.entries()) {
        await op.run(lpar);
        sets.push(await namespaceSet(lpar));
        mark(`${i + 1}: ${op.label}`);
      }
    },
    async check({ lpar, image }) {
      if (sets.length !== OPERATIONS.length + 1) return "the recorded run did not finish";
      const dimms = await lpar.ndctlJson({ dimms: true, idle: true }) as unknown;
      const dimm = (Array.isArray(dimms) ? dimms[0] : dimms) as Record<string, Json> | undefined;
      if (!dimm) return "ndctl list -D shows no dimm";
      if (dimm.state === "disabled") return `the dimm probe failed: ${dimm.dev} is disabled`;
      const done = image.marks.length;
      const allowed = done < OPERATIONS.length ? [sets[done], sets[done + 1]] : [sets[done]];
      const found = await namespaceSet(lpar);
      if (allowed.some((set) => same(set, found))) return undefined;
      const where = done < OPERATIONS.length
        ? `crash after WRITE_METADATA ${image.labelWritesSinceMark} of ` +
          `"${OPERATIONS[done].label}"`
        : "crash after the last operation";
      return `${where}: the namespaces read back as ${describeSet(found)}, ` +
        `expected ${allowed.map(describeSet).join(" or ")}`;
    },
  };
}
