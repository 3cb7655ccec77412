// fcgid's public library: the FastCGI codec and the client and responder.
export * from './protocol/index.js';
export * from './fastcgi/index.js';
