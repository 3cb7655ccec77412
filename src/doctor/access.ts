// Who may do what to a file, judged for another user than the one asking
// (path_resolution(7)): the doctor runs as root, the worker usually does not.
// Pure, so that the doctor's rules (rules-setup.ts) can use it on recorded facts; the
// permission rule itself is the one src/host/reach.ts judges sockets by.

export const R = 4;
export const X = 1;

export { permitted } from '../host/reach.js';
