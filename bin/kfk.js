#!/usr/bin/env node
// kfk command line entry point: runs the compiled CLI in dist/ (built by `npm install` / `npm run build`).
// Builtins through process.getBuiltinModule (Node 22.3+), not `import`: an ES import of a builtin makes Node build a
// facade of all its exports, running their getters (node:fs's loads the promises API): milliseconds of start-up.
const builtin = async (id) => process.getBuiltinModule?.(id) ?? (await import(id)).default;
const { existsSync, readFileSync } = await builtin('node:fs');
const module = await builtin('node:module');

// kfk supports the Node.js lines package.json's `engines` names (">=22": the maintained LTS lines). On an older
// Node, say so in one line instead of failing somewhere deep in a dependency.
const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const required = /^>=\s*(\d+)(?:\.(\d+))?/.exec(engines?.node ?? '');
if (required) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  const [needMajor, needMinor] = [Number(required[1]), Number(required[2] ?? 0)];
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    process.stderr.write(`Error: kfk needs Node.js ${required[1]}${required[2] ? `.${required[2]}` : ''} or later; this is Node.js ${process.versions.node}\n`);
    process.exit(1);
  }
}

// `kfk --version` needs nothing but package.json, read above: answer without loading the CLI.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

// Node's on-disk cache of compiled modules (Node 22.1+): later runs skip parsing and compiling kfk's ~200 modules.
// It lives in Node's default place (NODE_COMPILE_CACHE, else a node-compile-cache dir under the OS temp dir).
module.enableCompileCache?.();

const entry = new URL('../dist/commands/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('Error: kfk is not built yet: run `npm install` (which builds it) or `npm run build` in the kfk directory\n');
  process.exit(1);
}
// commander's own builtin imports, likewise (dist/commands/lean-builtins.js says how).
const deregister = (await import(new URL('../dist/commands/lean-builtins.js', import.meta.url).href)).registerLeanBuiltins();
const { main } = await import(entry.href);
deregister();
process.exitCode = await main(process.argv.slice(2));
