/**
 * CLI start-up (issue 9): commander's node: imports without Node's ESM facades.
 *
 * When an ES module imports a builtin (`import fs from 'node:fs'`), Node builds a facade module holding every one of
 * the builtin's exports, and reading them runs their getters: `process.stdin` opens standard input, `fs.promises`
 * loads the promises API, `util.diff` loads the diff module, `child_process` is loaded whole although only an
 * executable subcommand would use it. commander 15 is ESM and imports six builtins, which cost `kfk topics --list`
 * about 10 ms of its 60 (against 25 ms for `node -e 0`).
 *
 * This module registers a resolve/load hook (Node's synchronous `module.registerHooks`, 22.15+; without it nothing
 * changes) that gives modules under commander's directory small modules exporting, from the builtin itself
 * (`process.getBuiltinModule`), exactly what commander imports: the default export and the named ones in
 * COMMANDER_BUILTINS. child_process is loaded on first use (kfk defines no executable subcommands). Every other
 * importer, and every other builtin, is resolved as usual. test/unit/lean-builtins.test.ts checks that the installed
 * commander imports nothing from a builtin that COMMANDER_BUILTINS does not provide, so a commander update that
 * imports more fails the tests rather than `kfk`.
 */
// Not `import module from 'node:module'`: that would build the facade this module is here to avoid.
const module = process.getBuiltinModule?.('node:module');

/** For each builtin commander imports: the named exports it imports (it uses every default export too). */
export const COMMANDER_BUILTINS: Readonly<Record<string, readonly string[]>> = {
  'node:child_process': [],
  'node:events': ['EventEmitter'],
  'node:fs': [],
  'node:path': [],
  'node:process': [],
  'node:util': ['stripVTControlCharacters'],
};

const SCHEME = 'kfk-lean-builtin:';

/** The source of the module standing in for `builtin` (one of COMMANDER_BUILTINS' keys). */
export function leanBuiltinSource(builtin: string): string {
  const named = COMMANDER_BUILTINS[builtin] ?? [];
  const id = JSON.stringify(builtin);
  if (builtin === 'node:child_process') {
    // Loaded when commander first touches it: only to spawn an executable subcommand.
    return `let loaded;\nexport default new Proxy({}, { get: (_, key) => (loaded ??= process.getBuiltinModule(${id}))[key] });\n`;
  }
  const lines = [`const builtin = process.getBuiltinModule(${id});`, 'export default builtin;'];
  if (named.length > 0) lines.push(`export const { ${named.join(', ')} } = builtin;`);
  return `${lines.join('\n')}\n`;
}

/** Whether `parentURL` is one of commander's own modules. */
function fromCommander(parentURL: string | undefined): boolean {
  return parentURL !== undefined && parentURL.includes('/node_modules/commander/');
}

/**
 * Registers the hook until the returned function is called (once commander is loaded: while any hook is registered,
 * every module load goes through it, which costs more than it saves). Where Node has no synchronous hooks nothing
 * changes.
 */
export function registerLeanBuiltins(): () => void {
  const registerHooks = module?.registerHooks as typeof module.registerHooks | undefined;
  if (typeof registerHooks !== 'function') return () => {};
  const hooks = registerHooks({
    resolve(specifier, context, nextResolve) {
      if (Object.hasOwn(COMMANDER_BUILTINS, specifier) && fromCommander(context.parentURL)) {
        return { url: SCHEME + specifier, format: 'module', shortCircuit: true };
      }
      return nextResolve(specifier, context);
    },
    load(url, context, nextLoad) {
      if (url.startsWith(SCHEME)) {
        return { format: 'module', source: leanBuiltinSource(url.slice(SCHEME.length)), shortCircuit: true };
      }
      return nextLoad(url, context);
    },
  });
  return () => hooks.deregister();
}
