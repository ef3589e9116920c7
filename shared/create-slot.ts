/**
 * The one create a workspace may have in flight (workflows/workspace-submitter.ts), handed out in arrival order.
 *
 * A create is in flight from its body's last bytes to its answer: before them the API holds no whole request, so
 * nothing can have been made. Held creates (shared/early-create.ts) upload side by side and each waits here only
 * for its last bytes; a usual create waits here before it starts. So after a lost answer, reconciliation still has
 * exactly one create of ours to account for.
 *
 * Plain and synchronous, so the submitter's handlers can wait on `mayTake` in a condition and tests can drive it.
 */
export class CreateSlot {
  private holder: string | null = null;
  private readonly waiting: string[] = [];

  /** Joins the line (once per key): `mayTake` says when it is the key's turn. */
  ask(key: string): void {
    if (this.holder !== key && !this.waiting.includes(key)) this.waiting.push(key);
  }

  /** Whether `key` holds the slot, or is first in line with the slot free (then `take` gives it). */
  mayTake(key: string): boolean {
    return this.holder === key || (this.holder === null && this.waiting[0] === key);
  }

  take(key: string): void {
    if (this.holder === key) return;
    if (!this.mayTake(key)) throw new Error(`${key} is not first in line for the create slot`);
    this.waiting.shift();
    this.holder = key;
  }

  /** The key's create settled (or it gave up waiting): the slot, or its place in line, goes to the next. */
  leave(key: string): void {
    if (this.holder === key) this.holder = null;
    const at = this.waiting.indexOf(key);
    if (at !== -1) this.waiting.splice(at, 1);
  }
}
