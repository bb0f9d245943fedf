type Write = typeof process.stdout.write;

/**
 * Records what the process writes to stdout and stderr (Nest's logger included) while still
 * printing it, so a test can check that no secret ever reaches a log line.
 */
export class CapturedOutput {
  private readonly parts: string[] = [];
  private readonly originals: Array<[NodeJS.WriteStream, Write]> = [];

  static start(): CapturedOutput {
    const capture = new CapturedOutput();
    for (const stream of [process.stdout, process.stderr]) {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with `stream` as `this`
      const original = stream.write;
      capture.originals.push([stream, original]);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        capture.parts.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      });
    }
    return capture;
  }

  get text(): string {
    return this.parts.join('');
  }

  stop(): void {
    for (const [stream, original] of this.originals.splice(0)) stream.write = original;
  }
}
