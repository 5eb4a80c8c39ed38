/**
 * kfk completion bash|zsh|fish: prints a shell completion script for every command, subcommand and flag the CLI
 * defines (generated from the same commander definitions as --help, so it cannot drift from them).
 *
 *   source <(kfk completion bash)                  # ~/.bashrc
 *   source <(kfk completion zsh)                   # ~/.zshrc (after compinit)
 *   kfk completion fish > ~/.config/fish/completions/kfk.fish
 */
import type { Command } from 'commander';
import { CliError, writeOut } from './common.js';

export interface CommandSpec {
  name: string;
  aliases: string[];
  description: string;
  /** Long flags (--x) with their descriptions; whether each takes a value. */
  flags: { flag: string; description: string; takesValue: boolean }[];
  subcommands: CommandSpec[];
}

/** Flags the server and zookeeper commands parse themselves (they pass their arguments through commander). */
const PASS_THROUGH: Record<string, { words: string[]; flags: string[] }> = {
  server: { words: ['start', 'stop'], flags: ['--override', '--brokers', '--ports'] },
  zookeeper: { words: ['start'], flags: [] },
};

export function commandSpecs(program: Command): CommandSpec[] {
  const spec = (c: Command): CommandSpec => ({
    name: c.name(),
    aliases: c.aliases(),
    description: c.description(),
    flags: c.options
      .filter((o) => o.long !== undefined && !(o as { hidden?: boolean }).hidden)
      .map((o) => ({ flag: o.long!, description: o.description, takesValue: o.required || o.optional })),
    subcommands: c.commands.map(spec),
  });
  return program.commands.map(spec);
}

const shellWord = (s: string): string => s.replace(/[^A-Za-z0-9_.,:/=+-]/g, '');

function bash(specs: CommandSpec[]): string {
  const names = specs.flatMap((c) => [c.name, ...c.aliases]);
  const cases: string[] = [];
  for (const c of specs) {
    const pattern = [c.name, ...c.aliases].join('|');
    const pass = PASS_THROUGH[c.name];
    if (pass) {
      cases.push(`    ${pattern}) words="${[...pass.words, ...pass.flags].join(' ')}";;`);
    } else if (c.subcommands.length > 0) {
      const subs = c.subcommands.map((s) => `        ${s.name}) words="${s.flags.map((f) => f.flag).join(' ')}";;`).join('\n');
      cases.push(
        `    ${pattern})\n      if [ "$COMP_CWORD" -eq 2 ]; then words="${[...c.subcommands.map((s) => s.name), ...c.flags.map((f) => f.flag)].join(' ')}"\n      else case "\${COMP_WORDS[2]}" in\n${subs}\n        *) words="${c.flags.map((f) => f.flag).join(' ')}";;\n      esac; fi;;`,
      );
    } else {
      cases.push(`    ${pattern}) words="${c.flags.map((f) => f.flag).join(' ')}";;`);
    }
  }
  return `# bash completion for kfk (kfk completion bash); load with: source <(kfk completion bash)
_kfk() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names.join(' ')} --help --version" -- "$cur"))
    return 0
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
  case "$cur" in
    -*) COMPREPLY=($(compgen -W "$words --help" -- "$cur"));;
    *) COMPREPLY=($(compgen -W "$(printf '%s\\n' $words | grep -v '^-')" -- "$cur"));;
  esac
  return 0
}
complete -o default -F _kfk kfk
`;
}

const zshQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function zsh(specs: CommandSpec[]): string {
  const cmds = specs.flatMap((c) => [c.name, ...c.aliases].map((n) => zshQuote(`${n}:${c.description.replace(/:/g, '\\:')}`)));
  const cases: string[] = [];
  for (const c of specs) {
    const pattern = [c.name, ...c.aliases].join('|');
    const pass = PASS_THROUGH[c.name];
    let words: string[];
    if (pass) words = [...pass.words, ...pass.flags];
    else if (c.subcommands.length > 0) {
      const subs = c.subcommands.map((s) => `        ${s.name}) opts=(${s.flags.map((f) => f.flag).join(' ')});;`).join('\n');
      cases.push(
        `    ${pattern})\n      if (( CURRENT == 3 )); then opts=(${c.subcommands.map((s) => s.name).join(' ')} ${c.flags.map((f) => f.flag).join(' ')})\n      else case $words[3] in\n${subs}\n      esac; fi;;`,
      );
      continue;
    } else words = c.flags.map((f) => f.flag);
    cases.push(`    ${pattern}) opts=(${words.join(' ')});;`);
  }
  return `#compdef kfk
# zsh completion for kfk (kfk completion zsh); load with: source <(kfk completion zsh)
_kfk() {
  local -a commands opts
  commands=(${cmds.join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'kfk command' commands
    return
  fi
  case $words[2] in
${cases.join('\n')}
  esac
  compadd -a opts
  _files
}
if [ "$funcstack[1]" = "_kfk" ]; then _kfk "$@"; else compdef _kfk kfk; fi
`;
}

const fishQuote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fish(specs: CommandSpec[]): string {
  const lines = ['# fish completion for kfk (kfk completion fish > ~/.config/fish/completions/kfk.fish)', 'complete -c kfk -f'];
  for (const c of specs) {
    for (const n of [c.name, ...c.aliases]) lines.push(`complete -c kfk -n '__fish_use_subcommand' -a ${shellWord(n)} -d ${fishQuote(c.description)}`);
  }
  for (const c of specs) {
    const seen = `__fish_seen_subcommand_from ${[c.name, ...c.aliases].join(' ')}`;
    const pass = PASS_THROUGH[c.name];
    if (pass) {
      for (const w of pass.words) lines.push(`complete -c kfk -n '${seen}' -a ${w}`);
      for (const f of pass.flags) lines.push(`complete -c kfk -n '${seen}' -l ${f.slice(2)} -r`);
      continue;
    }
    for (const f of c.flags) lines.push(`complete -c kfk -n '${seen}' -l ${f.flag.slice(2)}${f.takesValue ? ' -r -F' : ''} -d ${fishQuote(f.description)}`);
    const subNames = c.subcommands.map((s) => s.name);
    for (const s of c.subcommands) {
      lines.push(`complete -c kfk -n '${seen}; and not __fish_seen_subcommand_from ${subNames.join(' ')}' -a ${s.name} -d ${fishQuote(s.description)}`);
      for (const f of s.flags) {
        lines.push(`complete -c kfk -n '${seen}; and __fish_seen_subcommand_from ${s.name}' -l ${f.flag.slice(2)}${f.takesValue ? ' -r -F' : ''} -d ${fishQuote(f.description)}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function runCompletion(shell: string | undefined, program: Command): Promise<number> {
  const specs = commandSpecs(program);
  switch (shell) {
    case 'bash':
      await writeOut(bash(specs));
      return 0;
    case 'zsh':
      await writeOut(zsh(specs));
      return 0;
    case 'fish':
      await writeOut(fish(specs));
      return 0;
    default:
      throw new CliError(`kfk completion takes a shell: bash, zsh or fish${shell === undefined ? '' : ` (got '${shell}')`}`);
  }
}
