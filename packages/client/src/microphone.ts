import type { CaptureOptions } from './capture-worklet.js';

export interface MicrophoneFrame {
  /** PCM16LE mono (or mu-law bytes) at the session rate: send it as a binary frame. */
  audio: ArrayBuffer;
  /** When the last voiced 10 ms of this frame ended (performance.now() ms), if any. */
  voicedAt?: number;
}

export interface MicrophoneStartOptions {
  /** The session's input rate (`stt.session_started.config.sample_rate`). */
  sampleRate: number;
  /** `pcm` (PCM16LE) or `ulaw` (for `ulaw_8000`). Default `pcm`. */
  encoding?: 'pcm' | 'ulaw';
  /** Frame length; default 100 ms. */
  frameMs?: number;
  onFrame(frame: MicrophoneFrame): void;
  /** The input level (RMS and peak, 0..1) about every 50 ms. */
  onLevel?(rms: number, peak: number): void;
}

export interface MicrophoneOptions {
  /**
   * Where the capture worklet module is served. Default: `capture-worklet.js` beside this module
   * (bundlers that understand `new URL(..., import.meta.url)` copy it). Set it when your bundler
   * does not, or when a Content-Security-Policy needs it on a known path.
   */
  workletUrl?: string | URL;
}

/** RMS of a 10 ms frame that counts as speech for the end-of-speech estimate (about -40 dBFS). */
const SPEECH_LEVEL = 0.01;

/** Thrown with a message a person can act on when the page may not use a microphone. */
export class MicrophoneError extends Error {
  constructor(
    readonly code: 'insecure_origin' | 'permission_denied' | 'no_device' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MicrophoneError';
  }
}

/**
 * The microphone: getUserMedia with echo cancellation and noise suppression, and an AudioWorklet
 * that downmixes to mono, resamples to the session rate and posts ~100 ms frames. Capture runs in its
 * own AudioContext at the device rate (Firefox cannot connect a microphone to a context of another
 * rate). `muted` keeps the device open but drops the frames.
 */
export class Microphone {
  /** While true, frames are dropped (the level still shows, so a UI can say "you are muted"). */
  muted = false;
  private context?: AudioContext;
  private stream?: MediaStream;
  private node?: AudioWorkletNode;
  private flushed?: () => void;

  constructor(private readonly options: MicrophoneOptions = {}) {}

  get active(): boolean {
    return this.node !== undefined;
  }

  /** The device's rate (the capture context's), once started. */
  get deviceRate(): number | undefined {
    return this.context?.sampleRate;
  }

  async start(options: MicrophoneStartOptions): Promise<void> {
    if (this.active) return;
    if (typeof window !== 'undefined' && !window.isSecureContext) {
      throw new MicrophoneError(
        'insecure_origin',
        `browsers allow microphones only on secure pages, and ${location.origin} is not one: serve the page over https:// (or open it at http://localhost).`,
      );
    }
    if (!navigator.mediaDevices?.getUserMedia) throw new MicrophoneError('insecure_origin', 'this browser offers no microphone here (navigator.mediaDevices is missing): use https:// or http://localhost.');
    // The worklet is loaded before the device opens, so the first words are not lost while it loads.
    const context = new AudioContext({ latencyHint: 'interactive' });
    this.context = context;
    try {
      await context.audioWorklet.addModule(this.options.workletUrl ?? new URL('./capture-worklet.js', import.meta.url));
      const processorOptions: CaptureOptions = { targetRate: options.sampleRate, chunkMs: options.frameMs ?? 100, encoding: options.encoding ?? 'pcm', speechLevel: SPEECH_LEVEL };
      const node = new AudioWorkletNode(context, 'pcm-capture', { numberOfInputs: 1, numberOfOutputs: 0, processorOptions });
      node.port.onmessage = (event: MessageEvent) => {
        const data = event.data as
          | { kind: 'level'; rms: number; peak: number }
          | { kind: 'chunk'; audio: ArrayBuffer; voicedUntil: number; seconds: number }
          | { kind: 'flushed' };
        if (data.kind === 'flushed') {
          this.flushed?.();
          return;
        }
        if (data.kind === 'level') {
          options.onLevel?.(this.muted ? 0 : data.rms, this.muted ? 0 : data.peak);
          return;
        }
        if (this.muted) return;
        const now = performance.now();
        options.onFrame({ audio: data.audio, ...(data.voicedUntil >= 0 ? { voicedAt: now - (data.seconds - data.voicedUntil) * 1000 } : {}) });
      };
      try {
        this.stream = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
        });
      } catch (error) {
        throw explain(error);
      }
      context.createMediaStreamSource(this.stream).connect(node);
      await context.resume();
      this.node = node;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Sends what the worklet still holds, then releases the device. */
  async stop(): Promise<void> {
    const { node, stream, context } = this;
    this.node = undefined;
    this.stream = undefined;
    this.context = undefined;
    if (node) {
      await new Promise<void>((resolve) => {
        this.flushed = resolve;
        setTimeout(resolve, 500);
        node.port.postMessage({ kind: 'flush' });
      });
      this.flushed = undefined;
      node.port.onmessage = null;
      node.disconnect();
    }
    for (const track of stream?.getTracks() ?? []) track.stop();
    await context?.close();
  }
}

function explain(error: unknown): MicrophoneError {
  const name = error instanceof Error ? error.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return new MicrophoneError('permission_denied', 'the microphone permission was refused: allow it for this site in the browser and try again.', { cause: error });
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new MicrophoneError('no_device', 'no microphone was found: plug one in or pick one in the system settings.', { cause: error });
  return new MicrophoneError('failed', `the microphone could not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
