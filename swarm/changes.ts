/**
 * What a group of operations can have changed, so the checks after it read
 * again only that (see `CheckScope`). DAX reads and writes do not reach the
 * hypervisor; an LPAR's regions change only by calls to that LPAR; the
 * hypervisor's binding table changes only by a bind, unbind or flush hcall
 * that did not fail, or by its control plane (shutdown, partition restart,
 * DLPAR). The hcalls answered are read from the system's trace.
 * @module
 */
import type { HcallTrace } from "../actors/managed_system.ts";
import { DATA, lparsOf } from "./groups.ts";
import type { OpOutcome } from "./expect.ts";
import type { CheckScope } from "./invariants.ts";
import type { SwarmOp } from "./types.ts";
import type { World } from "./world.ts";

/** Operations that may change the hypervisor by its control plane (release, assign). */
const CONTROL = new Set<SwarmOp["op"]>([
  "shutdown",
  "reboot",
  "dlparAdd",
  "dlparRemove",
  "dlparMove",
  "scatter",
]);
/** Hcalls that change the binding table or the operations in progress when they do not fail. */
const MUTATING = new Set(["H_SCM_BIND_MEM", "H_SCM_UNBIND_MEM", "H_SCM_UNBIND_ALL"]);
/** More records than this and the trace may have dropped some (its limit is 1,000,000). */
const TRACE_LIMIT = 1_000_000;

/**
 * Whether an hcall may have changed what the checks read: a bind or unbind
 * that did not fail (every handler refuses before it changes anything), or
 * any flush (polling one to its end collects it).
 */
function mutates(call: HcallTrace): boolean {
  if (call.hcall === "H_SCM_FLUSH") return true;
  if (!MUTATING.has(call.hcall)) return false;
  return call.rc === "H_SUCCESS" || call.rc === "H_BUSY" || call.rc.startsWith("H_LONG_BUSY");
}

/**
 * The hcalls answered since the last call (the trace is restarted), or
 * undefined when the trace cannot say (it failed, or may have dropped
 * records): then everything is read again.
 */
async function takeHcalls(world: World): Promise<HcallTrace[] | undefined> {
  try {
    const calls = await world.system.traceTake();
    await world.system.traceStart();
    return Array.isArray(calls) && calls.length < TRACE_LIMIT ? calls : undefined;
  } catch {
    return undefined;
  }
}

/** Supervisor actions so far, all LPARs: a restart releases bindings by the control plane. */
export function supervisorActions(world: World): number {
  let n = 0;
  for (const lpar of world.system.lpars) n += lpar.supervisorActions.length;
  return n;
}

/**
 * What the group `ops` (with their outcomes) can have changed;
 * `restartsBefore` is {@link supervisorActions} before the group ran.
 * @example
 * ```ts ignore
 * const before = supervisorActions(world);
 * const outcomes = await Promise.all(group.map((op) => runOp(world, op)));
 * world.snapshot = await checkInvariants(world, await changedBy(world, group, outcomes, before));
 * ```
 */
export async function changedBy(
  world: World,
  ops: readonly SwarmOp[],
  outcomes: readonly OpOutcome[],
  restartsBefore: number,
): Promise<CheckScope> {
  const scope = { hypervisor: false, lpars: new Set<string>() };
  let hcalls = false;
  ops.forEach((op, k) => {
    if (op.op === "powerLoss" && outcomes[k].acted) {
      // A new system: everything is to be looked at again.
      scope.hypervisor = true;
      for (const lpar of world.system.lpars) scope.lpars.add(lpar.name);
    }
    if (!outcomes[k].acted || DATA.has(op.op)) return;
    hcalls = true;
    if (CONTROL.has(op.op)) scope.hypervisor = true;
    for (const name of lparsOf(op)) scope.lpars.add(name);
  });
  if (hcalls) {
    const calls = await takeHcalls(world);
    scope.hypervisor ||= supervisorActions(world) !== restartsBefore || !calls ||
      calls.some(mutates);
  }
  return scope;
}
