/**
 * Pairs each hcall as the guest saw it with the hypervisor's serving of it.
 * On `sim` they are one record (the hypervisor's span is the guest's); on
 * `threads` the k-th hcall a guest recorded is the k-th the hypervisor
 * served for that LPAR, checked by opcode and registers (a worker that was
 * replaced after a crash took its records with it: then the latest ones
 * are paired, from the end).
 * @module
 */
import type { SystemTrace } from "./session.ts";
import type { HcallSpan } from "./types.ts";

/** One hcall of an LPAR: the guest's view, and the hypervisor's when paired. */
export interface JoinedHcall {
  /** As the guest saw it (issue to answer). */
  guest: HcallSpan;
  /** As the hypervisor served it, if paired. */
  hv?: HcallSpan;
}

/** What one LPAR's hcalls are, joined, plus the hypervisor's spans left unpaired. */
export interface LparHcalls {
  joined: JoinedHcall[];
  unpaired: HcallSpan[];
}

function same(a: HcallSpan, b: HcallSpan): boolean {
  if (a.opcode !== b.opcode) return false;
  const n = Math.min(a.args.length, b.args.length);
  for (let i = 0; i < n; i++) if (a.args[i] !== b.args[i]) return false;
  return true;
}

/** The hcalls of LPAR `id` of `system`, joined. */
export function lparHcalls(system: SystemTrace, id: number): LparHcalls {
  const served = system.hypervisor.spans.filter((s) => s.lpar === id);
  const guest = system.guests.get(id);
  if (!guest) return { joined: served.map((s) => ({ guest: s, hv: s })), unpaired: [] };
  const g = guest.spans;
  const offset = g.length === served.length ? 0 : served.length - g.length;
  const joined: JoinedHcall[] = [];
  const paired = new Set<HcallSpan>();
  for (let i = 0; i < g.length; i++) {
    const hv = served[i + offset];
    if (hv && same(g[i], hv)) {
      joined.push({ guest: g[i], hv });
      paired.add(hv);
    } else {
      joined.push({ guest: g[i] });
    }
  }
  return { joined, unpaired: served.filter((s) => !paired.has(s)) };
}
