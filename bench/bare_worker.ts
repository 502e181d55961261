/**
 * The smallest Deno worker: answers every message with the same message.
 * The benchmark's yardstick for what one LPAR worker costs to start and keep.
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent) => self.postMessage(event.data);
