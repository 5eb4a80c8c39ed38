/**
 * A listener's TLS material (keystore, truststore), read again when its files change (certificate rotation without
 * a restart): new connections get the new material, open ones keep theirs. A change that does not load (a file
 * half-written, a wrong password) keeps the current material and is logged; the next change is tried again.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../server/logger.js';
import type { TlsMaterial } from './ssl-settings.js';

/** How often the files are looked at (a stat each; kfk's choice). */
export const TLS_FILE_POLL_MS = 1000;

export class ReloadingTlsMaterial {
  private current: TlsMaterial;
  private watching: string[] = [];
  private readonly listeners: Array<(options: SecureContextOptions) => void> = [];

  constructor(
    private readonly label: string,
    private readonly load: () => TlsMaterial,
    private readonly logger: Logger,
    initial?: TlsMaterial,
  ) {
    this.current = initial ?? load();
    this.watch(this.current.files);
  }

  get options(): SecureContextOptions {
    return this.current.options;
  }

  onChange(listener: (options: SecureContextOptions) => void): void {
    this.listeners.push(listener);
  }

  private watch(files: readonly string[]): void {
    for (const f of files) {
      if (this.watching.includes(f)) continue;
      watchFile(f, { interval: TLS_FILE_POLL_MS, persistent: false }, this.onFileChange);
      this.watching.push(f);
    }
  }

  private readonly onFileChange = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
    if (curr.nlink === 0) return; // removed (a rename in progress): the new file is a change of its own
    this.reload();
  };

  /** Reads the files again now; returns whether the new material is in use. */
  reload(): boolean {
    let material: TlsMaterial;
    try {
      material = this.load();
      for (const l of this.listeners) l(material.options);
    } catch (err) {
      this.logger.warn(`${this.label}: the changed TLS keystore or truststore could not be loaded, keeping the previous one: ${(err as Error).message}`);
      return false;
    }
    this.current = material;
    this.watch(material.files);
    this.logger.info(`${this.label}: reloaded the TLS keystore and truststore`);
    return true;
  }

  close(): void {
    for (const f of this.watching) unwatchFile(f, this.onFileChange);
    this.watching = [];
  }
}
