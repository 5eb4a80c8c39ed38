/**
 * commands/lean-builtins.ts hands commander small stand-ins for the builtins it imports (CLI start-up, issue 9).
 * A stand-in that lacked a name commander imports would stop every `kfk` command at start-up, so: the installed
 * commander's imports of builtins must all be provided, each stand-in must give the builtin's own values, and a real
 * `kfk` run must load commander through them (child_process, which only they keep unloaded, stays unloaded).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDER_BUILTINS, leanBuiltinSource } from '../../commands/lean-builtins.js';
import { REPO_ROOT } from '../helpers/index.js';

/** Every `import ... from 'node:...'` in commander's installed sources: builtin → names imported (`default` too). */
function commanderBuiltinImports(): Map<string, Set<string>> {
  const dir = path.dirname(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('commander'));
  const files = [path.join(dir, 'index.js'), ...readdirSync(path.join(dir, 'lib')).filter((f) => f.endsWith('.js')).map((f) => path.join(dir, 'lib', f))];
  const found = new Map<string, Set<string>>();
  for (const file of files) {
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/\bimport\s+([^'";]*?)\s+from\s+['"](node:[^'"]+)['"]/g)) {
      const clause = m[1]!;
      const names = found.get(m[2]!) ?? new Set<string>();
      const named = /\{([^}]*)\}/.exec(clause);
      if (named) for (const part of named[1]!.split(',')) if (part.trim()) names.add(part.trim().split(/\s+as\s+/)[0]!);
      const outside = clause.replace(/\{[^}]*\}/, '').replace(/,/g, ' ').trim();
      if (outside.startsWith('* as')) names.add('*');
      else if (outside) names.add('default');
      found.set(m[2]!, names);
    }
    // A builtin reached some other way (require, import()) would not go through the stand-ins: fine, but worth seeing.
    expect(src, `${file} loads a builtin dynamically`).not.toMatch(/\bimport\(\s*['"]node:|\brequire\(\s*['"]/);
  }
  return found;
}

describe('lean builtins for commander', () => {
  it("provide every builtin and name the installed commander imports", () => {
    const imports = commanderBuiltinImports();
    expect(imports.size).toBeGreaterThan(0);
    for (const [builtin, names] of imports) {
      expect(Object.keys(COMMANDER_BUILTINS), `commander imports ${builtin}`).toContain(builtin);
      expect(names.has('*'), `commander imports * from ${builtin}`).toBe(false);
      for (const name of names) if (name !== 'default') expect(COMMANDER_BUILTINS[builtin], `${name} from ${builtin}`).toContain(name);
    }
  });

  it("export the builtin's own default and named values", async () => {
    for (const [builtin, names] of Object.entries(COMMANDER_BUILTINS)) {
      const stand = (await import(`data:text/javascript,${encodeURIComponent(leanBuiltinSource(builtin))}`)) as Record<string, unknown>;
      const real = process.getBuiltinModule(builtin) as Record<string, unknown>;
      for (const name of names) expect(stand[name], `${name} of ${builtin}`).toBe(real[name]);
      if (builtin === 'node:child_process') expect((stand.default as Record<string, unknown>).spawn).toBe(real.spawn);
      else expect(stand.default, builtin).toBe(real);
    }
  });

  it('kfk loads commander through them: child_process stays unloaded, help still works', () => {
    // Runs `kfk topics --help` with a preload that reports, at exit, whether Node loaded child_process.
    const dir = mkdtempSync(path.join(tmpdir(), 'kfk-lean-builtins-'));
    const probe = path.join(dir, 'probe.mjs');
    writeFileSync(probe, "process.on('exit', () => process.stderr.write(`child_process loaded: ${process.moduleLoadList.includes('NativeModule child_process')}\\n`));\n");
    let res;
    try {
      res = spawnSync(process.execPath, ['--import', probe, path.join(REPO_ROOT, 'bin', 'kfk.js'), 'topics', '--help'], { encoding: 'utf8', timeout: 30_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain('--bootstrap-server');
    expect(res.stderr).toContain('child_process loaded: false');
  });
});
