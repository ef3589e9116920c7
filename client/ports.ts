// The CLI's dev stack picks ports with the worker's helper (the lower layer owns it).
export { freePort } from '../worker/ports.js';
