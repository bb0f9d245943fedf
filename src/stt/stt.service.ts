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
    return provider.open(sessionId, config, listener);
  }
}
