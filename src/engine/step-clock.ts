// Where a run's time went, step by step: the report carries it, so a slow
// refresh or a costly verification shows which step to look at (and the bench
// prints it from the same runs it times).

export interface StepTime {
  step: string;
  ms: number;
}

/** Marks the end of each step; the steps add up to the run's time since the clock started. */
export class StepClock {
  readonly steps: StepTime[] = [];
  private last: number;

  constructor(private readonly now: () => number = Date.now) {
    this.last = now();
  }

  /** The time since the previous mark is `step`'s; a step marked again adds up. */
  mark(step: string): void {
    const t = this.now();
    const seen = this.steps.find((s) => s.step === step);
    if (seen) seen.ms += t - this.last;
    else this.steps.push({ step, ms: t - this.last });
    this.last = t;
  }
}
