/**
 * Runs tasks one at a time in the order they were added. A failing task is reported to
 * `onError` and does not stop the ones after it.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (error: unknown) => void) {}

  run(task: () => void | Promise<void>): void {
    this.tail = this.tail.then(task).catch(this.onError);
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }
}
