// FastCGI over sockets: the client (web-server side) and the responder
// (application side), built on the pure codec in src/protocol.
export * from './address.js';
export * from './request.js';
export * from './response.js';
export * from './responder.js';
export * from './errors.js';
export * from './cgi-head.js';
export * from './client.js';
export * from './params.js';
export * from './unix-socket.js';
