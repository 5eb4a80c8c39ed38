/**
 * Process helpers for the benchmark suite: run a command and capture it, start a long-running server and wait for
 * its ready line, free ports, medians, RSS from /proc.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

export const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

/** Runs a command to completion: { code, stdout, stderr, ms }. Rejects on a timeout (the process is killed). */
export function run(cmd, args, { input, timeoutMs = 600_000, env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
    const out = [];
    const err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0 });
    });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

/** Servers started and not yet stopped: killed if the suite itself exits or crashes first. */
const running = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts a server process and resolves once `ready` (a string or RegExp) appears in its output. */
export function startServer(cmd, args, ready, { env, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    running.add(p);
    p.once('exit', () => running.delete(p));
    let text = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd}: not ready after ${timeoutMs} ms:\n${text.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d) => {
      text += d;
      if (typeof ready === 'string' ? text.includes(ready) : ready.test(text)) {
        clearTimeout(timer);
        p.stdout.off('data', onData);
        p.stderr.off('data', onData);
        p.stdout.resume();
        p.stderr.resume();
        resolve(p);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready:\n${text.slice(-2000)}`));
    });
  });
}

export async function stopServer(p, signal = 'SIGTERM') {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** VmRSS and VmHWM of a process, in MiB. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

/** Samples a process's RSS every `everyMs` while `work` runs; resolves with work's result and the largest RSS (MiB). */
export async function peakRss(pid, work, everyMs = 50) {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {
      /* the process is gone */
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  try {
    const result = await work();
    return { result, peak };
  } finally {
    clearInterval(timer);
    sample();
  }
}
