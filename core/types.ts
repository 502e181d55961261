/**
 * Types of the pure hypervisor core.
 * @module
 */

/** Identifies a logical partition. The channel a request arrives on decides it. */
export type LparId = number;

/** What an hcall gives back: r3 as a signed code, and r4..r12. */
export interface HcallResult {
  /** Return code (r3), signed. */
  rc: number;
  /** Output registers r4..r12 as unsigned 64-bit values (always 9 of them). */
  rets: bigint[];
}

/** Which hypervisor the core behaves like. */
export type Personality = "powervm" | "qemu";

/** Time and randomness, injected so the core stays deterministic. */
export interface CoreEnv {
  /** Monotonic time in nanoseconds. */
  now(): bigint;
  /** A random 64-bit value (used for continue-tokens). */
  random64(): bigint;
  /**
   * An LPAR's real memory, which the hypervisor may write into (the
   * PERFORMANCE_STATS buffer). Absent: no guest memory is reachable.
   */
  guestMemory?: GuestMemory;
  /** Media activity the memory controller saw on a DRC (DAX loads and stores). */
  media?: (drc: number) => MediaCounters;
}

/** Access to the guests' real memory from the hypervisor. */
export interface GuestMemory {
  /** Copies bytes to `lpar`'s real address; false when the range is not its memory. */
  write(lpar: LparId, address: bigint, bytes: Uint8Array): boolean;
  /**
   * Copies `length` bytes from `lpar`'s real address; undefined when the range
   * is not its memory. PERFORMANCE_STATS reads the guest's request (which stat
   * ids it wants) with it. Absent: every buffer is taken as "all stats".
   */
  read?(lpar: LparId, address: bigint, length: number): Uint8Array | undefined;
}

/** Loads and stores a DRC's memory has seen. */
export interface MediaCounters {
  /** Cache lines loaded. */
  reads: bigint;
  /** Cache lines stored. */
  writes: bigint;
}

/** One nvdimm as the hypervisor knows it. */
export interface DrcSpec {
  /** DRC index, e.g. 0x44100002. */
  index: number;
  /** Bytes per SCM block. */
  blockSize: bigint;
  /** Number of blocks. */
  blocks: number;
  /** Label (metadata) area size in bytes. */
  metadataSize: number;
  /** Unit GUID, a UUID string. */
  uuid: string;
  /** Initial health bitmap. */
  health?: bigint;
  /** Whether flushes must be requested by hcall (`ibm,hcall-flush-required`). */
  hcallFlushRequired?: boolean;
  /** Dirty-shutdown count (`ibm,persistence-failed-count`). */
  persistenceFailedCount?: number;
  /** Label area is read-only (QEMU's nvdimm `readonly`): WRITE_METADATA answers H_P2. */
  readOnly?: boolean;
}

/** Tunables of the `powervm` personality. */
export interface PowerVmOptions {
  /** Blocks bound per BIND_MEM call before answering H_BUSY. */
  bindSliceBlocks: number;
  /** Blocks unbound per UNBIND call before answering long busy. */
  unbindSliceBlocks: number;
  /** What a partial unbind answers: long busy (default) or plain H_BUSY. */
  unbindContinue: "long-busy" | "busy";
  /** First logical address handed out for bindings. */
  logicalBase: bigint;
  /** Hypervisor time to bind one block (ns), spent inside the BIND_MEM call (default 0). */
  bindNsPerBlock: bigint;
  /**
   * Hypervisor time to unbind one block (ns), spent in the background between
   * calls: a call before the slice is done answers long busy for the time left.
   */
  unbindNsPerBlock: bigint;
  /**
   * The HMC's "Enable Performance Information Collection" of the partitions
   * (default on). Off, H_SCM_PERFORMANCE_STATS answers H_AUTHORITY: the
   * partition may not read performance data (as Vaibhav Jain describes PowerVM
   * in the review of Linux f3f6d18417eb; the 2022 probe panic needed it off).
   */
  performanceCollection: boolean;
}

/** Tunables of the `qemu` personality. */
export interface QemuOptions {
  /**
   * Guest address of the first nvdimm (QEMU's device-memory region, which
   * starts after the guest's RAM). Each DRC gets a fixed address when it is
   * added: this base plus the sizes of every DRC added before it, so
   * addresses never move and are not reused after a removal.
   */
  deviceMemoryBase: bigint;
  /**
   * Refuse DRCs whose block size is not QEMU's fixed 256 MiB (QEMU cannot
   * make one). Off by default so small simulated devices stay possible.
   */
  strictBlockSize: boolean;
}

/** A contiguous range of one LPAR's logical address space bound to SCM. */
export interface Mapping {
  /** Logical (guest real) address of the first byte. */
  base: bigint;
  /** Length in bytes. */
  size: bigint;
  /** DRC whose memory backs it. */
  drc: number;
  /** Byte offset into that DRC's SCM. */
  offset: bigint;
}

/** One block of the binding table, as inspection shows it. */
export interface BlockBinding {
  /** DRC index of the nvdimm. */
  drc: number;
  /** Block number within the nvdimm. */
  block: number;
  /** The LPAR it is bound (or reserved) to. */
  lpar: LparId;
  /** Its logical address in that LPAR's address space. */
  address: bigint;
  /** `pending` while a sliced bind has reserved but not yet bound it. */
  state: "bound" | "pending";
}
