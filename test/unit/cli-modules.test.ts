/**
 * commands/cli.ts is the entry point only: it loads each command module lazily, and the command modules take
 * their shared helpers from commands/common.ts. A command module that imported cli.ts again would bring back the
 * import cycle (entry point → command → entry point) that made the load order matter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/index.js';

const COMMANDS_DIR = path.join(REPO_ROOT, 'commands');

/** Relative module specifiers a source file imports, statically or with import(). */
function importsOf(file: string): string[] {
  const src = readFileSync(path.join(COMMANDS_DIR, file), 'utf8');
  const specifiers: string[] = [];
  for (const m of src.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) specifiers.push((m[1] ?? m[2])!);
  return specifiers;
}

describe('commands/ module structure', () => {
  const modules = readdirSync(COMMANDS_DIR).filter((f) => f.endsWith('.ts'));

  it('finds the command modules and the shared helpers', () => {
    expect(modules).toEqual(expect.arrayContaining(['cli.ts', 'common.ts', 'topics.ts', 'console-producer.ts']));
    expect(importsOf('topics.ts')).toContain('./common.js');
  });

  it('no command module imports the entry point', () => {
    const offenders = modules.filter((f) => f !== 'cli.ts' && importsOf(f).includes('./cli.js'));
    expect(offenders).toEqual([]);
  });

  it('common.ts imports no command module (it is what they share)', () => {
    const local = importsOf('common.ts').filter((s) => s.startsWith('./'));
    expect(local).toEqual([]);
  });
});
