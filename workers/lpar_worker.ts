/**
 * Worker entry of one LPAR: its guest kernel runs here, issuing hcalls
 * through the Atomics channel. The control plane is exposed over comlink.
 * @module
 */
import * as Comlink from "npm:comlink@^4.4.2";
import { GuestHost } from "../guest/host.ts";

Comlink.expose(new GuestHost());
