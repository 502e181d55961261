/**
 * The core's per-LPAR limits, in a module of their own so the LPAR worker
 * (channel/page_table.ts) can size its page table without loading the core.
 * @module
 */

/**
 * Most mappings (page-table entries: ranges contiguous in the DRC and in the
 * logical address space) one LPAR may have. An hcall that would take an LPAR
 * past it answers H_RESOURCE (`powervm`); an LPAR holds at most this many
 * nvdimms (under `qemu` each assigned nvdimm is one mapping). The threads
 * runtime's page table (channel/page_table.ts) holds exactly this many.
 */
export const MAX_LPAR_MAPPINGS = 256;
