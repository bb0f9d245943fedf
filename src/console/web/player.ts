import { base64ToBytes, mulawToFloat, pcm16ToFloat } from './pcm.js';

/** Playback state, shown on the page and read by the browser tests. */
export interface PlaybackStats {
  /** Output format of the last audio played, e.g. `pcm_24000`. */
  format: string | null;
  /** Rate of the AudioContext playing it. */
  contextRate: number | null;
  contextState: AudioContextState | 'none';
  /** Streamed chunks and whole-reply blobs scheduled so far, and their seconds of audio. */
  chunks: number;
  blobs: number;
  seconds: number;
  /** Times a streamed reply ran dry before its next chunk arrived. */
  underruns: number;
  /** Seconds still queued ahead of the playhead. */
  queuedSeconds: number;
  /** Highest output level measured so far (0..1), proof that audio really rendered. */
  outputPeak: number;
}

/** Safety margin before the first chunk of a reply (and after a gap), against network jitter. */
const LEAD_SECONDS = 0.05;

/**
 * Plays reply audio through Web Audio. Streamed chunks are scheduled back to back on the
 * AudioContext clock from the first one on, so playback is gapless and starts at once. The context
 * runs at the stream's own rate when it can, so chunk edges fall on exact samples. Blobs (MP3) are
 * decoded with decodeAudioData and queued the same way.
 */
export class Player {
  private context?: AudioContext;
  private analyser?: AnalyserNode;
  private playHead = 0;
  private readonly sources = new Set<AudioBufferSourceNode>();
  private readonly scratch = new Float32Array(2048);
  private readonly counts = { chunks: 0, blobs: 0, seconds: 0, underruns: 0, outputPeak: 0 };
  private format: string | null = null;
  /** Context time at which the current streamed reply started playing. */
  private replyStartAt?: number;

  /** Creates or resumes the context; call it from a click so the browser allows sound. */
  unlock(rate: number): void {
    void this.contextFor(rate).resume();
  }

  /** Schedules one streamed chunk; `first` marks the first chunk of a reply. */
  playChunk(base64: string, format: string, first: boolean): void {
    const { codec, rate } = parseFormat(format);
    const bytes = base64ToBytes(base64);
    const samples = codec === 'ulaw' ? mulawToFloat(bytes) : pcm16ToFloat(bytes);
    if (samples.length === 0) return;
    this.schedule(pcmBuffer(this.contextFor(rate), samples, rate), first);
    this.format = format;
    this.counts.chunks++;
  }

  /** Decodes and queues a whole reply (e.g. MP3 from `assistant.audio`). */
  async playBlob(base64: string, format: string): Promise<void> {
    const { codec, rate } = parseFormat(format);
    const bytes = base64ToBytes(base64);
    const context = this.contextFor(rate);
    const buffer =
      codec === 'mp3'
        ? await context.decodeAudioData(bytes.slice().buffer)
        : pcmBuffer(context, codec === 'ulaw' ? mulawToFloat(bytes) : pcm16ToFloat(bytes), rate);
    this.schedule(buffer, true);
    this.format = format;
    this.counts.blobs++;
  }

  /** Milliseconds of the current streamed reply played so far (for `assistant.audio.played`). */
  playedMs(): number {
    if (!this.context || this.replyStartAt === undefined) return 0;
    return Math.max(0, Math.round((Math.min(this.context.currentTime, this.playHead) - this.replyStartAt) * 1000));
  }

  /** True while audio is playing or queued. */
  get playing(): boolean {
    return this.sources.size > 0;
  }

  /** Stops whatever is playing or queued. */
  stop(): void {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.playHead = 0;
  }

  /** The output level right now (0..1); also keeps `outputPeak`. */
  level(): number {
    if (!this.analyser) return 0;
    this.analyser.getFloatTimeDomainData(this.scratch);
    let peak = 0;
    for (const s of this.scratch) peak = Math.max(peak, Math.abs(s));
    this.counts.outputPeak = Math.max(this.counts.outputPeak, peak);
    return peak;
  }

  stats(): PlaybackStats {
    const context = this.context;
    return {
      ...this.counts,
      seconds: Math.round(this.counts.seconds * 1000) / 1000,
      format: this.format,
      contextRate: context?.sampleRate ?? null,
      contextState: context?.state ?? 'none',
      queuedSeconds: context ? Math.max(0, Math.round((this.playHead - context.currentTime) * 1000) / 1000) : 0,
    };
  }

  private schedule(buffer: AudioBuffer, first: boolean): void {
    const context = this.context!;
    const now = context.currentTime;
    if (this.playHead < now + 0.005) {
      if (!first && this.sources.size === 0) this.counts.underruns++;
      this.playHead = now + LEAD_SECONDS;
    }
    if (first) this.replyStartAt = this.playHead;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.analyser!);
    source.onended = () => this.sources.delete(source);
    source.start(this.playHead);
    this.sources.add(source);
    this.playHead += buffer.duration;
    this.counts.seconds += buffer.duration;
  }

  /** The context to play audio at `rate`: a new one at that rate when the current one is idle. */
  private contextFor(rate: number): AudioContext {
    if (this.context && (this.context.sampleRate === rate || this.sources.size > 0)) return this.context;
    void this.context?.close();
    this.context = new AudioContext({ sampleRate: rate, latencyHint: 'interactive' });
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = this.scratch.length;
    this.analyser.connect(this.context.destination);
    this.playHead = 0;
    return this.context;
  }
}

function pcmBuffer(context: AudioContext, samples: Float32Array<ArrayBuffer>, rate: number): AudioBuffer {
  const buffer = context.createBuffer(1, samples.length, rate);
  buffer.copyToChannel(samples, 0);
  return buffer;
}

/** `pcm_24000` -> pcm at 24 kHz; `ulaw_8000`; `mp3_44100_128`. */
export function parseFormat(format: string): { codec: 'pcm' | 'ulaw' | 'mp3'; rate: number } {
  const match = /^(pcm|ulaw|mp3)_(\d+)/.exec(format);
  if (!match) throw new Error(`unknown audio format ${format}`);
  return { codec: match[1] as 'pcm' | 'ulaw' | 'mp3', rate: Number(match[2]) };
}
