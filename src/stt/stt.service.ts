import { Inject, Injectable } from '@nestjs/common';
import { VoiceError, type ProviderId, type SttConfigDto } from '@app/protocol';
import { STT_PROVIDERS, type EffectiveSttConfig, type SttProvider, type SttProviderInfo, type SttStream, type SttStreamListener } from './stt-provider.js';

/** Picks the speech recognition provider per session and opens its streams. */
@Injectable()
export class SttService {
  private readonly providers: Map<ProviderId, SttProvider>;

  constructor(@Inject(STT_PROVIDERS) providers: SttProvider[]) {
    this.providers = new Map(providers.map((provider) => [provider.id, provider]));
  }

  get defaultProvider(): ProviderId | undefined {
    if (this.providers.get('elevenlabs')?.info().available) return 'elevenlabs';
    if (this.providers.get('local')?.info().available) return 'local';
    return undefined;
  }

  describe(): SttProviderInfo[] {
    return [...this.providers.values()].map((provider) => provider.info());
  }

  /** Effective config, or undefined when no provider can serve the session (audio then gets `stt_unavailable`). */
  resolveConfig(dto: SttConfigDto | undefined): EffectiveSttConfig | undefined {
    const id = dto?.provider ?? this.defaultProvider;
    if (id === undefined) return undefined;
    const provider = this.providers.get(id);
    const status = provider?.info();
    if (!provider || !status?.available) {
      throw new VoiceError('provider_unavailable', `STT provider "${id}" is not available on this server${status?.reason ? `: ${status.reason}` : ''}.`);
    }
    return provider.resolveConfig(dto);
  }

  /** Why a session gets no speech input: the reasons of the providers that are down. */
  unavailableReason(): string {
    const reasons = this.describe().filter((p) => !p.available && p.reason).map((p) => `${p.id}: ${p.reason}`);
    return reasons.length > 0 ? reasons.join('; ') : 'no speech-to-text provider is configured';
  }

  open(sessionId: string, config: EffectiveSttConfig, listener: SttStreamListener): SttStream {
    const provider = this.providers.get(config.provider);
    if (!provider) throw new VoiceError('stt_unavailable', `STT provider "${config.provider}" is not available on this server.`);
    if (config.commit_strategy !== 'vad') return provider.open(sessionId, config, listener);
    return fillSilenceWhenAudioStops(config, listener, (wrapped) => provider.open(sessionId, config, wrapped));
  }
}

/** How much longer than the silence window a speaker may go without audio before silence is filled in. */
const FILL_MARGIN_MS = 100;
/**
 * A recogniser still this far behind has audio of the user's left to hear (the session may have paused
 * reading for its backlog, so no audio arrives though the client is sending): no silence is filled
 * in yet. Above the granularity of the backlog count (500 ms, CONSUMED_REPORT_MS), so a drained
 * stream never looks behind.
 */
const BEHIND_SECONDS = 0.5;

/**
 * With VAD commits, speech followed by no audio at all (a client that stopped its microphone or
 * sent one utterance and nothing more) would never commit: the VAD only hears silence it is sent.
 * When no audio arrives for the silence window while the user is speaking, this sends the window's
 * worth of silence (plus a little), so the turn commits as if the client had sent it.
 */
export function fillSilenceWhenAudioStops(
  config: EffectiveSttConfig,
  listener: SttStreamListener,
  open: (listener: SttStreamListener) => SttStream,
): SttStream {
  const windowMs = config.vad_silence_threshold_secs * 1000;
  const bytesPerSample = config.audio_format.startsWith('ulaw') ? 1 : 2;
  let speaking = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => {
      if (!speaking || closed) return;
      if ((stream.backlog?.seconds() ?? 0) > BEHIND_SECONDS) return arm();
      const samples = Math.ceil(((windowMs + 2 * FILL_MARGIN_MS) * config.sample_rate) / 1000);
      // Mu-law silence is 0xFF; PCM silence is zeros.
      stream.push(Buffer.alloc(samples * bytesPerSample, bytesPerSample === 1 ? 0xff : 0));
    }, windowMs + FILL_MARGIN_MS);
    timer.unref();
  };
  const heard = () => {
    if (!speaking) {
      speaking = true;
      arm();
    }
  };
  // Listener callbacks come asynchronously, after `stream` is set.
  const stream: SttStream = open({
    ...listener,
    speechStarted: () => {
      heard();
      listener.speechStarted();
    },
    partial: (text) => {
      heard();
      listener.partial(text);
    },
    committed: (text, trigger, words) => {
      speaking = false;
      listener.committed(text, trigger, words);
    },
  });
  return {
    push: (audio, previousText) => {
      arm();
      stream.push(audio, previousText);
    },
    commit: () => stream.commit(),
    ...(stream.backlog ? { backlog: stream.backlog } : {}),
    close: () => {
      closed = true;
      clearTimeout(timer);
      stream.close();
    },
  };
}
