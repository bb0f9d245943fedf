import { Inject, Injectable } from '@nestjs/common';
import { ByteChunker } from '@app/audio';
import { rawBytesPerSecond, VoiceError, type ProviderId, type TtsConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { TTS_PROVIDERS, type EffectiveTtsConfig, type TextMarkListener, type TtsAudio, type TtsText, type TtsProvider, type TtsProviderInfo } from './tts-provider.js';

/**
 * Picks the TTS provider per session (explicit `tts.provider`, else the server default) and turns
 * provider output into client-sized chunks (TTS_CHUNK_MS of audio each, the last one shorter).
 */
@Injectable()
export class TtsService {
  private readonly providers: Map<ProviderId, TtsProvider>;

  constructor(
    @Inject(TTS_PROVIDERS) providers: TtsProvider[],
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.providers = new Map(providers.map((provider) => [provider.id, provider]));
  }

  /** ElevenLabs when configured and up, else the embedded engine. */
  get defaultProvider(): ProviderId {
    const elevenlabs = this.providers.get('elevenlabs');
    return elevenlabs?.info().available ? 'elevenlabs' : 'local';
  }

  describe(): TtsProviderInfo[] {
    return [...this.providers.values()].map((provider) => provider.info());
  }

  resolveConfig(dto: TtsConfigDto | undefined): EffectiveTtsConfig {
    const id = dto?.provider ?? this.defaultProvider;
    const provider = this.providers.get(id);
    const status = provider?.info();
    if (!provider || !status?.available) {
      throw new VoiceError('provider_unavailable', `TTS provider "${id}" is not available on this server${status?.reason ? `: ${status.reason}` : ''}.`);
    }
    return provider.resolveConfig(dto, this.config.tts.outputFormat);
  }

  synthesize(text: TtsText, config: EffectiveTtsConfig, signal: AbortSignal, onMark?: TextMarkListener): TtsAudio {
    const provider = this.providers.get(config.provider);
    if (!provider) throw new VoiceError('provider_unavailable', `TTS provider "${config.provider}" is not available on this server.`);
    const audio = provider.synthesize(text, config, signal, onMark);
    const bytesPerSecond = rawBytesPerSecond(audio.format);
    if (!audio.streaming || bytesPerSecond === undefined) return audio;
    const sampleBytes = audio.format.codec === 'pcm' ? 2 : 1;
    const chunkBytes = Math.max(sampleBytes, Math.round((bytesPerSecond * this.config.tts.chunkMs) / 1000 / sampleBytes) * sampleBytes);
    return { ...audio, chunks: rechunk(audio.chunks, chunkBytes) };
  }
}

async function* rechunk(source: AsyncIterable<Buffer>, chunkBytes: number): AsyncGenerator<Buffer> {
  const chunker = new ByteChunker(chunkBytes);
  for await (const piece of source) yield* chunker.push(piece);
  const rest = chunker.flush();
  if (rest) yield rest;
}
