/** A tiny typed event emitter (no dependencies; works in browsers and Node). */
export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<(event: never) => void>>();

  /** Calls `handler` for each `type` event; returns a function that removes it. */
  on<K extends keyof Events>(type: K, handler: (event: Events[K]) => void): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => this.off(type, handler);
  }

  /** Like `on`, for the next event only. */
  once<K extends keyof Events>(type: K, handler: (event: Events[K]) => void): () => void {
    const off = this.on(type, (event) => {
      off();
      handler(event);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, handler: (event: Events[K]) => void): void {
    this.handlers.get(type)?.delete(handler);
  }

  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    for (const handler of [...(this.handlers.get(type) ?? [])]) {
      try {
        (handler as (event: Events[K]) => void)(event);
      } catch (error) {
        // A broken handler must not break the client or the other handlers.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
