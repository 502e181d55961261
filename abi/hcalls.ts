/**
 * PAPR SCM hypervisor-call ABI: opcodes, return codes and their names.
 *
 * Values follow Linux `arch/powerpc/include/asm/hvcall.h` after the kexec
 * series. This module is plain data shared by the hypervisor and the guests.
 *
 * @example
 * ```ts
 * import { H, rcName } from "./hcalls.ts";
 * console.log(rcName(H.OVERLAP)); // "H_OVERLAP"
 * ```
 * @module
 */

/** Name of an SCM hcall opcode. */
export type OpName =
  | "H_SCM_READ_METADATA"
  | "H_SCM_WRITE_METADATA"
  | "H_SCM_BIND_MEM"
  | "H_SCM_UNBIND_MEM"
  | "H_SCM_QUERY_BLOCK_MEM_BINDING"
  | "H_SCM_QUERY_LOGICAL_MEM_BINDING"
  | "H_SCM_UNBIND_ALL"
  | "H_SCM_HEALTH"
  | "H_SCM_PERFORMANCE_STATS"
  | "H_SCM_FLUSH";

/** The ten SCM hcall opcodes (r3 on entry). */
export const OP: Readonly<Record<OpName, number>> = {
  H_SCM_READ_METADATA: 0x3E4,
  H_SCM_WRITE_METADATA: 0x3E8,
  H_SCM_BIND_MEM: 0x3EC,
  H_SCM_UNBIND_MEM: 0x3F0,
  H_SCM_QUERY_BLOCK_MEM_BINDING: 0x3F4,
  H_SCM_QUERY_LOGICAL_MEM_BINDING: 0x3F8,
  H_SCM_UNBIND_ALL: 0x3FC,
  H_SCM_HEALTH: 0x400,
  H_SCM_PERFORMANCE_STATS: 0x418,
  H_SCM_FLUSH: 0x44C,
};

/** Return code names of `H`, without their `H_` prefix. */
export type HName =
  | "SUCCESS"
  | "BUSY"
  | "PARTIAL"
  | "CONTINUE"
  | "LONG_BUSY_ORDER_1_MSEC"
  | "LONG_BUSY_ORDER_10_MSEC"
  | "LONG_BUSY_ORDER_100_MSEC"
  | "LONG_BUSY_ORDER_1_SEC"
  | "LONG_BUSY_ORDER_10_SEC"
  | "LONG_BUSY_ORDER_100_SEC"
  | "HARDWARE"
  | "FUNCTION"
  | "PRIVILEGE"
  | "PARAMETER"
  | "NOT_FOUND"
  | "AUTHORITY"
  | "RESOURCE"
  | "P2"
  | "P3"
  | "P4"
  | "P5"
  | "P6"
  | "P7"
  | "P8"
  | "P9"
  | "TOO_BIG"
  | "UNSUPPORTED"
  | "OVERLAP"
  | "STATE"
  | "IN_USE";

/** Hcall return codes (r3 on exit) used by the SCM interface. */
export const H: Readonly<Record<HName, number>> = {
  SUCCESS: 0,
  BUSY: 1,
  PARTIAL: 5,
  CONTINUE: 18,
  LONG_BUSY_ORDER_1_MSEC: 9900,
  LONG_BUSY_ORDER_10_MSEC: 9901,
  LONG_BUSY_ORDER_100_MSEC: 9902,
  LONG_BUSY_ORDER_1_SEC: 9903,
  LONG_BUSY_ORDER_10_SEC: 9904,
  LONG_BUSY_ORDER_100_SEC: 9905,
  HARDWARE: -1,
  FUNCTION: -2,
  PRIVILEGE: -3,
  PARAMETER: -4,
  NOT_FOUND: -7,
  AUTHORITY: -10,
  RESOURCE: -16,
  P2: -55,
  P3: -56,
  P4: -57,
  P5: -58,
  P6: -59,
  P7: -60,
  P8: -61,
  P9: -62,
  TOO_BIG: -64,
  UNSUPPORTED: -67,
  OVERLAP: -68,
  STATE: -75,
  IN_USE: -77,
};

/** `BIND_MEM` target address meaning "the hypervisor chooses" (~0). */
export const BIND_ANY_ADDR: bigint = 0xFFFF_FFFF_FFFF_FFFFn;

/** `UNBIND_ALL` scopes. */
export const UNBIND_SCOPE: Readonly<{ ALL: number; DRC: number }> = { ALL: 1, DRC: 2 };

/** Number of output registers after r3 (r4..r12). */
export const RET_COUNT: number = 9;
/** Number of input registers after r3 (r4..r12). */
export const ARG_COUNT: number = 9;

const opNames = new Map<number, OpName>(
  Object.entries(OP).map(([name, value]) => [value, name as OpName]),
);
const rcNames = new Map<number, string>(
  Object.entries(H).map(([name, value]) => [value, `H_${name}`]),
);

/** The name of an opcode, e.g. `H_SCM_BIND_MEM`, or `0x...` for an unknown one. */
export function opName(opcode: number): string {
  return opNames.get(opcode) ?? `0x${opcode.toString(16)}`;
}

/** The opcode for a name such as `H_SCM_BIND_MEM`, or undefined. */
export function opByName(name: string): number | undefined {
  return Object.hasOwn(OP, name) ? (OP as Record<string, number>)[name] : undefined;
}

/** An unknown-hcall error that lists the names accepted. */
export function unknownHcall(name: unknown): RangeError {
  return new RangeError(
    `unknown hcall ${JSON.stringify(name)}; accepted: ${Object.keys(OP).join(", ")}`,
  );
}

/** The name of a return code, e.g. `H_OVERLAP`, or the number as text. */
export function rcName(rc: number): string {
  return rcNames.get(rc) ?? String(rc);
}

/** Every return code this ABI defines, for checking that nothing else escapes. */
export const DEFINED_RCS: ReadonlySet<number> = new Set(Object.values(H));

/** Whether a return code is one of the long-busy codes 9900..9905. */
export function isLongBusy(rc: number): boolean {
  return rc >= H.LONG_BUSY_ORDER_1_MSEC && rc <= H.LONG_BUSY_ORDER_100_SEC;
}

/**
 * Milliseconds to wait for a long-busy code, as the kernel's
 * `get_longbusy_msecs()` computes it: 10^(rc - 9900), and 1 for anything else.
 */
export function longBusyMsecs(rc: number): number {
  return isLongBusy(rc) ? 10 ** (rc - H.LONG_BUSY_ORDER_1_MSEC) : 1;
}

/** The `H_Pn` code for parameter position `n` (2..9); position 1 is H_PARAMETER. */
export function paramError(position: number): number {
  if (position === 1) return H.PARAMETER;
  if (position < 2 || position > 9) throw new RangeError(`no H_P${position}`);
  return H.P2 - (position - 2);
}
