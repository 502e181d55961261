/**
 * The core's per-LPAR limits, in a module of their own (config checks need
 * them without loading the core).
 * @module
 */

/**
 * Most mappings (page-table entries: ranges contiguous in the DRC and in the
 * logical address space) one LPAR may have. An hcall that would take an LPAR
 * past it answers H_RESOURCE (`powervm`); an LPAR holds at most this many
 * nvdimms (under `qemu` each assigned nvdimm is one mapping). It bounds the
 * work of translating one DAX access (core/dax.ts).
 */
export const MAX_LPAR_MAPPINGS = 256;
