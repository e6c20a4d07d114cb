/**
 * Progress with rate and ETA. Pure: the caller passes the clock.
 */
import type { Progress } from '../api/schema.ts';

export class ProgressTracker {
  readonly total: number;
  readonly startedAt: Date;
  private done = 0;
  /** Time and count at the first finished unit: the rate is measured from there, so start-up does not skew it. */
  private first: { at: number; done: number } | null = null;

  constructor(total: number, now: Date) {
    this.total = total;
    this.startedAt = now;
  }

  get processed(): number {
    return this.done;
  }

  /** Records `n` more finished units at time `now`. */
  advance(n: number, now: Date): void {
    this.done = Math.min(this.total, this.done + n);
    if (this.first === null) this.first = { at: now.getTime(), done: this.done };
  }

  /** Units per second, measured since the first finished unit (or since the start, before a second one). */
  rate(now: Date): number {
    if (this.first === null) return 0;
    const seconds = (now.getTime() - this.first.at) / 1000;
    const counted = this.done - this.first.done;
    if (seconds > 0 && counted > 0) return counted / seconds;
    const sinceStart = (now.getTime() - this.startedAt.getTime()) / 1000;
    return sinceStart > 0 ? this.done / sinceStart : 0;
  }

  snapshot(now: Date): Progress {
    const rate = this.rate(now);
    const out: Progress = {
      processed: this.done,
      total: this.total,
      percent: this.total === 0 ? 100 : Math.round((1000 * this.done) / this.total) / 10,
      rate: Math.round(rate * 100) / 100,
      startedAt: this.startedAt.toISOString(),
    };
    const left = this.total - this.done;
    if (left === 0) out.etaSeconds = 0;
    else if (rate > 0) out.etaSeconds = Math.round(left / rate);
    return out;
  }
}
