import { base64ToBytes, mulawToFloat, pcm16ToFloat } from './pcm.js';
import { PlaybackSchedule } from './scheduler.js';

/** Playback state, for a UI and for tests. */
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

/** What the player tells its owner (the VoiceClient sends it on as `assistant.audio.played`). */
export interface PlaybackListener {
  /** About every `reportEveryMs` while `turnId` plays, and once more when it stops or ends. */
  played(turnId: number, playedMs: number): void;
  /** `turnId`'s audio has all played (after `end`), or was stopped. */
  ended(turnId: number, playedMs: number): void;
}

/** How a VoiceClient drives an audio output; `Player` implements it. */
export interface AudioOutput {
  listener?: PlaybackListener;
  /** One streamed chunk of `turnId` (raw bytes in `format`); `first` marks the turn's first chunk. */
  chunk(turnId: number, audio: Uint8Array, format: string, first: boolean): void;
  /** A whole reply (e.g. MP3 from `assistant.audio`). */
  blob(turnId: number, audio: Uint8Array, format: string): Promise<void>;
  /** No more audio for `turnId` will come: `ended` follows once it has played. */
  end(turnId: number): void;
  /** Stops and drops `turnId`'s audio at once (all audio when undefined). */
  stop(turnId?: number): void;
}

export interface PlayerOptions {
  /** How often to report progress while playing (the protocol asks for about 250 ms). */
  reportEveryMs?: number;
}

/**
 * Plays reply audio through Web Audio. Streamed chunks are scheduled back to back on the
 * AudioContext clock from the first one on, so playback is gapless and starts at once. The context
 * runs at the stream's own rate when it can (so chunk edges fall on exact samples); PCM16 and mu-law
 * at any rate, and whole blobs (MP3) through decodeAudioData. Reports how much of each turn played.
 */
export class Player implements AudioOutput {
  listener?: PlaybackListener;
  private context?: AudioContext;
  private analyser?: AnalyserNode;
  private schedule = new PlaybackSchedule();
  private readonly sources = new Map<AudioBufferSourceNode, number>();
  private readonly scratch = new Float32Array(2048);
  private readonly counts = { chunks: 0, blobs: 0, seconds: 0, outputPeak: 0 };
  private format: string | null = null;
  /** Turns whose audio is complete (`end` came), waiting for it to finish playing. */
  private readonly ending = new Set<number>();
  /** Turns being played, for the progress reports. */
  private readonly playing = new Set<number>();
  private timer?: ReturnType<typeof setInterval>;
  private readonly reportEveryMs: number;
  /** Decoded audio of each turn (kept for the last few turns), for replay and download. */
  private readonly recordings = new Map<number, { rate: number; parts: Float32Array[] }>();

  constructor(options: PlayerOptions = {}) {
    this.reportEveryMs = options.reportEveryMs ?? 250;
  }

  /** Creates or resumes the context; call it from a click so the browser allows sound. */
  unlock(rate = 24000): void {
    void this.contextFor(rate).resume();
  }

  chunk(turnId: number, audio: Uint8Array, format: string, first: boolean): void {
    const { codec, rate } = parseFormat(format);
    if (codec === 'mp3') throw new Error('streamed mp3 chunks are not supported: use a pcm_* or ulaw_8000 output_format');
    const samples = codec === 'ulaw' ? mulawToFloat(audio) : pcm16ToFloat(audio);
    if (samples.length === 0) return;
    this.record(turnId, rate, samples);
    this.enqueue(turnId, pcmBuffer(this.contextFor(rate), samples, rate), first);
    this.format = format;
    this.counts.chunks++;
  }

  /** Base64 convenience for `chunk`. */
  playChunk(turnId: number, base64: string, format: string, first: boolean): void {
    this.chunk(turnId, base64ToBytes(base64), format, first);
  }

  async blob(turnId: number, audio: Uint8Array, format: string): Promise<void> {
    const { codec, rate } = parseFormat(format);
    const context = this.contextFor(rate);
    const buffer =
      codec === 'mp3'
        ? await context.decodeAudioData(audio.slice().buffer)
        : pcmBuffer(context, codec === 'ulaw' ? mulawToFloat(audio) : pcm16ToFloat(audio), rate);
    this.record(turnId, buffer.sampleRate, buffer.getChannelData(0).slice());
    this.enqueue(turnId, buffer, true);
    this.format = format;
    this.counts.blobs++;
    this.end(turnId);
  }

  end(turnId: number): void {
    this.ending.add(turnId);
    this.tick();
  }

  stop(turnId?: number): void {
    const now = this.context?.currentTime ?? 0;
    for (const [source, id] of this.sources) {
      if (turnId !== undefined && id !== turnId) continue;
      source.onended = null;
      source.stop();
      this.sources.delete(source);
    }
    const dropped = this.schedule.drop(now, turnId);
    for (const [id, playedMs] of dropped) this.finish(id, playedMs);
    if (turnId === undefined) for (const id of [...this.playing]) this.finish(id, this.schedule.playedMs(id, now));
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

  /** A turn's reply audio as mono samples (the last 20 turns are kept), for replay, waveforms and download. */
  recording(turnId: number): { rate: number; samples: Float32Array } | undefined {
    const recording = this.recordings.get(turnId);
    if (!recording) return undefined;
    const samples = new Float32Array(recording.parts.reduce((n, part) => n + part.length, 0));
    let offset = 0;
    for (const part of recording.parts) {
      samples.set(part, offset);
      offset += part.length;
    }
    return { rate: recording.rate, samples };
  }

  /** Plays a turn's recorded reply again (not reported to the server). */
  replay(turnId: number): boolean {
    const recording = this.recording(turnId);
    if (!recording || recording.samples.length === 0) return false;
    const context = this.contextFor(recording.rate);
    const source = context.createBufferSource();
    source.buffer = pcmBuffer(context, new Float32Array(recording.samples), recording.rate);
    source.connect(this.analyser!);
    source.start();
    return true;
  }

  stats(): PlaybackStats {
    const context = this.context;
    return {
      ...this.counts,
      underruns: this.schedule.underruns,
      seconds: Math.round(this.counts.seconds * 1000) / 1000,
      format: this.format,
      contextRate: context?.sampleRate ?? null,
      contextState: context?.state ?? 'none',
      queuedSeconds: context ? Math.round(this.schedule.queued(context.currentTime) * 1000) / 1000 : 0,
    };
  }

  /** Releases the audio device. */
  async close(): Promise<void> {
    this.stop();
    clearInterval(this.timer);
    this.timer = undefined;
    await this.context?.close();
    this.context = undefined;
  }

  private enqueue(turnId: number, buffer: AudioBuffer, first: boolean): void {
    const context = this.context!;
    const start = this.schedule.schedule(turnId, buffer.duration, context.currentTime, first);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.analyser!);
    source.onended = () => {
      this.sources.delete(source);
      this.tick();
    };
    source.start(start);
    this.sources.set(source, turnId);
    this.counts.seconds += buffer.duration;
    this.playing.add(turnId);
    this.timer ??= setInterval(() => this.tick(), this.reportEveryMs);
  }

  /** Reports progress of each playing turn and finishes those that have played out. */
  private tick(): void {
    const now = this.context?.currentTime ?? 0;
    for (const turnId of [...this.playing]) {
      const playedMs = this.schedule.playedMs(turnId, now);
      if (this.ending.has(turnId) && !this.schedule.pending(turnId, now)) this.finish(turnId, playedMs);
      else this.listener?.played(turnId, playedMs);
    }
    if (this.playing.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private finish(turnId: number, playedMs: number): void {
    const wasPlaying = this.playing.delete(turnId);
    this.ending.delete(turnId);
    this.schedule.forget(turnId);
    if (!wasPlaying) return;
    this.listener?.played(turnId, playedMs);
    this.listener?.ended(turnId, playedMs);
  }

  private record(turnId: number, rate: number, samples: Float32Array): void {
    let recording = this.recordings.get(turnId);
    if (!recording || recording.rate !== rate) {
      recording = { rate, parts: [] };
      this.recordings.set(turnId, recording);
      for (const id of [...this.recordings.keys()].slice(0, -20)) this.recordings.delete(id);
    }
    recording.parts.push(samples);
  }

  /** The context to play audio at `rate`: a new one at that rate when the current one is idle. */
  private contextFor(rate: number): AudioContext {
    if (this.context && (this.context.sampleRate === rate || this.sources.size > 0)) return this.context;
    void this.context?.close();
    this.context = new AudioContext({ sampleRate: rate, latencyHint: 'interactive' });
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = this.scratch.length;
    this.analyser.connect(this.context.destination);
    this.schedule = Object.assign(new PlaybackSchedule(), { underruns: this.schedule.underruns });
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
