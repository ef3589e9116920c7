/** Persisted anchor of the virtual clock: virtual time `virtualAt` was current at wall time `realAt`. */
export interface ClockState {
  realAt: number;
  virtualAt: number;
  timeScale: number;
}

/**
 * The emulator's clock. Virtual time runs `timeScale` times faster than the wall clock (3600 = one hour per
 * second) and can be advanced by tests. Time keeps running while the emulator is down, like the real API's.
 */
export class VirtualClock {
  private state: ClockState;

  constructor(
    initial: ClockState,
    private readonly onChange: (state: ClockState) => void = () => {},
    private readonly wallNow: () => number = Date.now,
  ) {
    this.state = { ...initial };
  }

  static startingNow(timeScale: number, wallNow: () => number = Date.now): ClockState {
    const now = wallNow();
    return { realAt: now, virtualAt: now, timeScale };
  }

  get timeScale(): number {
    return this.state.timeScale;
  }

  now(): number {
    return Math.floor(this.state.virtualAt + (this.wallNow() - this.state.realAt) * this.state.timeScale);
  }

  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError('the clock only moves forward');
    this.reanchor(this.now() + ms, this.state.timeScale);
    return this.now();
  }

  setTimeScale(timeScale: number): void {
    if (!(timeScale > 0)) throw new RangeError('timeScale must be > 0');
    this.reanchor(this.now(), timeScale);
  }

  /** Wall-clock milliseconds until the virtual clock reaches `virtualAt` (0 if already past). */
  wallDelayUntil(virtualAt: number): number {
    return Math.max(0, (virtualAt - this.now()) / this.state.timeScale);
  }

  snapshot(): ClockState {
    return { ...this.state };
  }

  private reanchor(virtualAt: number, timeScale: number): void {
    this.state = { realAt: this.wallNow(), virtualAt, timeScale };
    this.onChange(this.snapshot());
  }
}
