/**
 * Preloaded into every child of `npm run bench` (`node --import ./bench/rss-hook.ts ...`): when the process
 * exits, however it exits (the CLI calls process.exit), it writes its own peak RSS and CPU time, measured by
 * the kernel (getrusage: worker threads included), to the file named by BENCH_USAGE_FILE.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({
        maxRssKiB: u.maxRSS,
        userSeconds: u.userCPUTime / 1e6,
        systemSeconds: u.systemCPUTime / 1e6,
      }),
    );
  });
}
