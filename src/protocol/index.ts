// The pure FastCGI 1.0 codec: constants, serializers, the incremental parser and the
// two per-connection state machines. No sockets here; src/fastcgi/ adds them.
export * from './constants.js';
export * from './errors.js';
export * from './pairs.js';
export * from './records.js';
export * from './parser.js';
export * from './server-session.js';
export * from './client-session.js';
