/**
 * `mainline`: an alias of the newest modelled driver, Linux 5.19 (see
 * v5_19.ts); the helpers later code imports from here are re-exported from
 * the version that brought them.
 * @module
 */
export { PaprScm519 as PaprScmMainline } from "./v5_19.ts";
export { dimmFlags, flagsWords, SysfsError } from "./v5_8.ts";
export { parseStats, type PerfStat } from "./v5_9.ts";
