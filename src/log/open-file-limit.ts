/**
 * The process's limit on open file descriptors (RLIMIT_NOFILE) and the share of it the log may keep open.
 *
 * Node.js has no getrlimit/setrlimit, but it raises the soft limit to the hard limit itself when it starts
 * (node.cc, PlatformInit: "Raise the open file descriptor limit"; on macOS up to OPEN_MAX). So by the time
 * kfk runs, the soft limit already is as high as an unprivileged process can make it, and kfk only needs to
 * read it: `/proc/self/limits` on Linux, `ulimit -Sn` of a child shell elsewhere (a child inherits the limit).
 * docs/storage.md ("File descriptors") has the reasoning and the figures.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface OpenFileLimit {
  /** The soft limit (what open() runs into), or null when it could not be read or is unlimited. */
  soft: number | null;
  /** The hard limit, when known. */
  hard: number | null;
  /** Where the figures came from, for the start-up log line. */
  source: string;
}

/** Descriptors left to everything but the log: sockets, the registry, stdio, Node's own, transient opens. */
export function reservedDescriptors(limit: number): number {
  return Math.min(256, Math.floor(limit / 2));
}

/** Used when the limit cannot be read (Windows, an unlimited limit). */
export const FALLBACK_MAX_OPEN_FILES = 4096;

function parseLimit(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  if (t === '' || t === 'unlimited' || t === 'infinity') return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Reads RLIMIT_NOFILE of this process. Never throws. */
export function readOpenFileLimit(): OpenFileLimit {
  if (process.platform === 'linux') {
    try {
      const text = fs.readFileSync('/proc/self/limits', 'utf8');
      const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
      if (m) return { soft: parseLimit(m[1]), hard: parseLimit(m[2]), source: '/proc/self/limits' };
    } catch {
      // fall through to the shell
    }
  }
  if (process.platform === 'win32') return { soft: null, hard: null, source: 'none on Windows' };
  try {
    const soft = spawnSync('/bin/sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8', timeout: 5000 });
    const hard = spawnSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8', timeout: 5000 });
    return { soft: parseLimit(soft.stdout), hard: parseLimit(hard.stdout), source: 'ulimit -Sn' };
  } catch {
    return { soft: null, hard: null, source: 'unknown' };
  }
}

/**
 * The default of `log.max.open.files`: the soft limit minus what is reserved for the rest of the process
 * (min(256, limit / 2)); FALLBACK_MAX_OPEN_FILES when the limit is unknown or unlimited.
 */
export function defaultMaxOpenFiles(limit: OpenFileLimit = readOpenFileLimit()): number {
  if (limit.soft === null) return FALLBACK_MAX_OPEN_FILES;
  return Math.max(1, limit.soft - reservedDescriptors(limit.soft));
}
