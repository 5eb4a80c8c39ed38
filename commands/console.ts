/**
 * `kfk console`: the web console (src/console) on its own HTTP port, against any Kafka cluster: brokers, topics,
 * consumer groups with lag, a message browser and a test producer. Kafka ships no such tool; the flags follow its
 * tools' (--bootstrap-server, --command-config). Runs until Ctrl-C / SIGTERM. See docs/console.md.
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, type Opts } from './common.js';

export async function runConsole(opts: Opts): Promise<number> {
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  // Refuses what kfk's client cannot do (e.g. an unsupported SASL mechanism) before anything listens.
  await clientSecurityOf(props);
  const port = opts.port === undefined ? 9645 : parseIntFlag(opts.port, '--port', 0);
  if (port > 65535) throw new CliError(`--port must be at most 65535, got ${port}`);
  const host = typeof opts.host === 'string' && opts.host !== '' ? opts.host : '127.0.0.1';
  const bootstrap = bootstrapFrom(opts.bootstrapServer, props);
  const { startConsoleServer } = await import('../src/console/server.js');
  const { createLogger } = await import('../src/server/logger.js');
  let server;
  try {
    const allowedHosts = (opts.allowedHost as string[] | undefined) ?? [];
    server = await startConsoleServer({ bootstrapServers: bootstrap, clientConfig: props, host, port, allowedHosts, logger: createLogger('info') });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new CliError(`port ${port} on ${host} is already in use (choose another with --port)`);
    if (e.code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on ${host}: no such local address`);
    throw err;
  }
  process.stdout.write(`kfk console for ${bootstrap} at ${server.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
