/**
 * A log-bucketed latency histogram (about 1 % relative precision) that can be merged across
 * worker processes. Samples are milliseconds; buckets are kept sparse, so a step with
 * hundreds of thousands of samples travels over IPC as a few hundred numbers.
 */

/** Buckets per factor e: ln(1.01)^-1, so neighbouring buckets differ by 1 %. */
const BUCKETS_PER_E = 1 / Math.log(1.01);
/** Samples below 1 µs all land in bucket 0. */
const MIN_MS = 0.001;

/** The wire form of a histogram: sparse [bucket, count] pairs plus exact extremes. */
export interface HistogramSnapshot {
  buckets: Array<[number, number]>;
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

/** Latency percentiles in milliseconds, as printed and stored. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** A mergeable histogram of millisecond samples. */
export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;

  /** Adds one sample. Negative samples (clock skew between processes) count as 0. */
  record(ms: number): void {
    const value = ms > 0 ? ms : 0;
    const bucket = value <= MIN_MS ? 0 : Math.max(0, Math.floor(Math.log(value / MIN_MS) * BUCKETS_PER_E));
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.total += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Number of samples recorded or merged so far. */
  get count(): number {
    return this.total;
  }

  /** Folds another histogram's snapshot into this one. */
  merge(snapshot: HistogramSnapshot): void {
    for (const [bucket, count] of snapshot.buckets) {
      this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + count);
    }
    this.total += snapshot.count;
    this.sum += snapshot.sumMs;
    if (snapshot.count > 0) {
      this.min = Math.min(this.min, snapshot.minMs);
      this.max = Math.max(this.max, snapshot.maxMs);
    }
  }

  /** The sample at quantile q (0..1), accurate to about 1 %, clamped to the exact min/max. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    const ordered = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const bucket of ordered) {
      seen += this.counts.get(bucket) ?? 0;
      if (seen >= rank) {
        const mid = bucket === 0 ? MIN_MS : MIN_MS * Math.exp((bucket + 0.5) / BUCKETS_PER_E);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** p50/p90/p99/max/mean of what was recorded. */
  summary(): LatencySummary {
    return {
      count: this.total,
      p50Ms: this.quantile(0.5),
      p90Ms: this.quantile(0.9),
      p99Ms: this.quantile(0.99),
      maxMs: this.total === 0 ? Number.NaN : this.max,
      meanMs: this.total === 0 ? Number.NaN : this.sum / this.total,
    };
  }

  /** The sparse form sent over IPC. */
  snapshot(): HistogramSnapshot {
    return {
      buckets: [...this.counts.entries()],
      count: this.total,
      sumMs: this.sum,
      minMs: this.total === 0 ? 0 : this.min,
      maxMs: this.total === 0 ? 0 : this.max,
    };
  }
}
