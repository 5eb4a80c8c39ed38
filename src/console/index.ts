/**
 * kfk's web console: createConsoleHandler() serves the UI and its JSON API on any node:http server (`kfk console`
 * runs one on its own port; a broker's admin listener can mount it). See docs/console.md.
 */
export { createConsoleHandler, errorResponse } from './handler.js';
export type { ConsoleHandler, ConsoleOptions } from './handler.js';
export { startConsoleServer } from './server.js';
export type { ConsoleServer, ConsoleServerOptions } from './server.js';
