import type { CaptureOptions } from './capture-worklet.js';

export interface MicChunk {
  audio: ArrayBuffer;
  /** When the last voiced 10 ms of this chunk ended (performance.now() ms), if any. */
  voicedAt?: number;
}

export interface MicListener {
  chunk(chunk: MicChunk): void;
  level(rms: number, peak: number): void;
}

/** RMS of a 10 ms frame that counts as speech for the end-of-speech estimate (about -40 dBFS). */
const SPEECH_LEVEL = 0.01;

/**
 * The microphone: getUserMedia with echo cancellation and noise suppression, and the `pcm-capture`
 * AudioWorklet, which turns it into ~100 ms chunks at the session rate. Capture runs in its own
 * AudioContext at the device rate (Firefox cannot connect a microphone to a context of another rate).
 */
export class Microphone {
  private context?: AudioContext;
  private stream?: MediaStream;
  private node?: AudioWorkletNode;
  private flushed?: () => void;

  get active(): boolean {
    return this.node !== undefined;
  }

  get deviceRate(): number | undefined {
    return this.context?.sampleRate;
  }

  async start(targetRate: number, encoding: CaptureOptions['encoding'], listener: MicListener, chunkMs = 100): Promise<void> {
    if (this.active) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('this browser allows microphones only on secure pages: open the console at https://... or http://localhost.');
    }
    // The worklet is loaded before the device opens, so the first words are not lost while it loads.
    const context = new AudioContext({ latencyHint: 'interactive' });
    this.context = context;
    try {
      await context.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
      const processorOptions: CaptureOptions = { targetRate, chunkMs, encoding, speechLevel: SPEECH_LEVEL };
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
          listener.level(data.rms, data.peak);
          return;
        }
        const now = performance.now();
        listener.chunk({ audio: data.audio, ...(data.voicedUntil >= 0 ? { voicedAt: now - (data.seconds - data.voicedUntil) * 1000 } : {}) });
      };
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
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
