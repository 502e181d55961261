/**
 * The life-cycle operations: boot, kexec (kdump when panicked), panic,
 * reboot, shutdown. Each says what must follow, given where it started:
 * see `expect.ts`. The swarm also tracks which kernels may still panic at a
 * panic point they have not reached (`World.armed`).
 * @module
 */
import type { PanicAtConfig } from "../actors/config.ts";
import type { Lpar } from "../actors/lpar.ts";
import {
  acted,
  freshRegions,
  kexecOutcome,
  type OpOutcome,
  settledRegions,
  SKIPPED,
  viewOf,
} from "./expect.ts";
import { lparNamed, type World } from "./world.ts";

/**
 * Updates whether the LPAR's kernel may still panic at a panic point: the
 * last supervisor action (since `actionsBefore`) decides, else whether the
 * boot carried one.
 */
function trackArmed(
  world: World,
  lpar: Lpar,
  panicAt: PanicAtConfig | undefined,
  actionsBefore: number,
): void {
  const last = lpar.supervisorActions.slice(actionsBefore).at(-1);
  let armed = panicAt !== undefined;
  if (last?.action === "kdump") armed = false;
  if (last?.action === "reboot") armed = lpar.config.faults.panicAt !== undefined;
  if (armed && lpar.state === "running") world.armed.add(lpar.name);
  else world.armed.delete(lpar.name);
}

/** Whether nothing may have panicked during the call: no panic point, no supervisor action. */
function clean(lpar: Lpar, panicAt: PanicAtConfig | undefined, actionsBefore: number): boolean {
  return panicAt === undefined && lpar.supervisorActions.length === actionsBefore;
}

/** Activates an LPAR that is not running. */
export async function boot(
  world: World,
  name: string,
  kernel: Lpar["kernel"] | undefined,
  panicAt: PanicAtConfig | undefined,
): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar || lpar.state === "running") return SKIPPED;
  const heldBefore = viewOf(world.snapshot, lpar).held.length;
  const actions = lpar.supervisorActions.length;
  const armedBy = panicAt ?? lpar.config.faults.panicAt;
  await lpar.boot({ kernel, panicAt });
  trackArmed(world, lpar, armedBy, actions);
  if (heldBefore > 0 || !clean(lpar, armedBy, actions)) return acted();
  return acted(freshRegions(lpar, "boot-outcome", "a boot from no bindings"));
}

/** kexec of a running kernel, kdump of a panicked one. */
export async function kexec(
  world: World,
  name: string,
  kernel: Lpar["kernel"] | undefined,
  panicAt: PanicAtConfig | undefined,
): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar || (lpar.state !== "running" && lpar.state !== "panicked")) return SKIPPED;
  const why = lpar.state === "panicked" ? "kdump" : "kexec";
  const regions = settledRegions(world, world.snapshot, lpar);
  const actions = lpar.supervisorActions.length;
  const version = kernel ?? lpar.kernel;
  await lpar.kexec({ kernel, panicAt });
  trackArmed(world, lpar, panicAt, actions);
  if (!clean(lpar, panicAt, actions)) return acted();
  return acted(kexecOutcome(world, lpar, version, regions, why));
}

/** Panics a running kernel; its supervision policy acts. */
export async function panic(world: World, name: string): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar || lpar.state !== "running") return SKIPPED;
  const regions = settledRegions(world, world.snapshot, lpar);
  const actions = lpar.supervisorActions.length;
  const version = lpar.kernel;
  await lpar.panic();
  trackArmed(world, lpar, undefined, actions);
  const taken = lpar.supervisorActions.slice(actions);
  if (lpar.state !== "running" || taken.length !== 1) return acted();
  // One supervisor action brought it back: a kdump kernel, or a restart from no bindings.
  if (taken[0].action === "kdump") {
    return acted(kexecOutcome(world, lpar, version, regions, "panic and kdump"));
  }
  if (taken[0].action === "reboot" && lpar.config.faults.panicAt === undefined) {
    return acted(freshRegions(lpar, "boot-outcome", "panic and partition restart"));
  }
  return acted();
}

/** Clean reboot, or a partition restart when the kernel is not running. */
export async function reboot(
  world: World,
  name: string,
  kernel: Lpar["kernel"] | undefined,
  panicAt: PanicAtConfig | undefined,
): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar) return SKIPPED;
  const actions = lpar.supervisorActions.length;
  await lpar.reboot({ kernel, panicAt });
  trackArmed(world, lpar, panicAt, actions);
  if (!clean(lpar, panicAt, actions)) return acted();
  // Every reboot is a partition restart: the firmware released the bindings, so
  // every DRC the LPAR holds alone is bound afresh.
  return acted(freshRegions(lpar, "reboot-outcome", "a reboot (a partition restart)"));
}

/** Shutdown: the hypervisor releases every binding of the LPAR. */
export async function shutdown(world: World, name: string): Promise<OpOutcome> {
  const lpar = lparNamed(world, name);
  if (!lpar) return SKIPPED;
  await lpar.shutdown();
  world.armed.delete(name);
  return acted();
}
