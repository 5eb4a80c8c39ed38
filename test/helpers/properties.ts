import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/**
 * Writes a copy of one of the shipped properties files (`config/server.properties`, ...) with some settings
 * replaced, as a user edits a copy: a setting already in the file is changed in place, a new one is appended.
 */
export function editedCopy(src: string, dest: string, changes: Record<string, string>): void {
  let text = readFileSync(join(REPO_ROOT, src), 'utf8');
  for (const [k, v] of Object.entries(changes)) {
    const re = new RegExp(`^${k.replace(/\./g, '\\.')}=.*$`, 'm');
    text = re.test(text) ? text.replace(re, `${k}=${v}`) : `${text}\n${k}=${v}\n`;
  }
  writeFileSync(dest, text);
}
