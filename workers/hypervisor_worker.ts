/**
 * Worker entry of the hypervisor actor. The managed system talks to it over
 * comlink (control plane only); hcalls arrive through the Atomics channels.
 * @module
 */
import * as Comlink from "comlink";
import { HypervisorActor, type HypervisorConfig } from "../actors/hypervisor_actor.ts";

/** The worker's one entry point: start the actor and hand back a proxy to it. */
export const hypervisorBoot = {
  start(config: HypervisorConfig): HypervisorActor {
    const actor = new HypervisorActor(config);
    actor.start();
    return Comlink.proxy(actor);
  },
};

Comlink.expose(hypervisorBoot);
