#!/usr/bin/env node
// kfk command line entry point: runs the compiled CLI in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/commands/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('Error: kfk is not built yet: run `npm install` (which builds it) or `npm run build` in the kfk directory\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
