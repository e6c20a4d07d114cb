/** Starts `datastate worker` as a real process on a free loopback port and waits until it is ready. */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI, REPO } from './cli.ts';

export interface WorkerProcess {
  child: ChildProcess;
  url: string;
  /** Its stderr (JSON log lines) and stdout, line by line. */
  log: string[];
  exited: Promise<number | null>;
}

export async function startWorkerProcess(args: string[], env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdout!.on('data', (d) => log.push(...String(d).split('\n').filter(Boolean)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      for (const line of String(d).split('\n').filter(Boolean)) {
        log.push(line);
        const m = /"msg":"worker listening","port":(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}): ${log.join('\n')}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  // A guard against hanging the suite (not a timed assertion): the model loads in seconds.
  const until = Date.now() + 120_000;
  while ((await fetch(`${url}/readyz`)).status !== 200) {
    if (Date.now() > until) throw new Error(`the worker never got ready: ${log.join('\n')}`);
    await delay(100);
  }
  return { child, url, log, exited };
}
