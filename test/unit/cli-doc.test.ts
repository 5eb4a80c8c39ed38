/**
 * docs/cli.md names every command, subcommand and flag the CLI defines (commander, commands/cli.ts), each command with
 * an example, and is what scripts/gen-cli-doc.mjs generates from those definitions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { fullProgram } from '../../commands/cli.js';
import { REPO_ROOT, run } from '../helpers/index.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8');

/** The text of `### kfk <path>` up to the next heading. */
function sectionOf(path: string): string | undefined {
  const start = doc.indexOf(`\n### kfk ${path}\n`);
  if (start < 0) return undefined;
  const next = doc.indexOf('\n### ', start + 1);
  return doc.slice(start, next < 0 ? undefined : next);
}

function commands(cmd: Command, path = ''): { path: string; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = path === '' ? c.name() : `${path} ${c.name()}`;
    return [{ path: p, cmd: c }, ...commands(c, p)];
  });
}

describe('docs/cli.md', () => {
  const program = fullProgram();
  const all = commands(program);

  it('has a section for every command and subcommand, with an example', () => {
    expect(all.length).toBeGreaterThan(25);
    for (const { path, cmd } of all) {
      const section = sectionOf(path);
      expect(section, `### kfk ${path}`).toBeDefined();
      const names = [cmd.name(), ...cmd.aliases()];
      const example = /```sh\n([\s\S]*?)```/.exec(section!)?.[1] ?? '';
      const top = path.split(' ')[0]!;
      expect(example, `an example of kfk ${path}`).toMatch(new RegExp(`kfk (${[top, ...names].map((n) => n.replace(/[-]/g, '\\-')).join('|')})\\b`));
    }
  });

  it('names every flag of every command in its section, and every global flag', () => {
    for (const { path, cmd } of all) {
      const section = sectionOf(path)!;
      for (const o of cmd.options) {
        if ((o as { hidden?: boolean }).hidden) continue;
        expect(section, `kfk ${path} ${o.long}`).toContain(`\`${o.flags}\``);
      }
    }
    for (const o of program.options) expect(doc, o.flags).toContain(`\`${o.flags}\``);
  });

  it('is what scripts/gen-cli-doc.mjs generates from the built CLI', async () => {
    const r = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'gen-cli-doc.mjs'), '--check']);
    expect(r.code, r.stderr).toBe(0);
  });
});
