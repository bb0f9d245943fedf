import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { BackendChatService } from '../backend-chat/backend-chat.service.js';
import { REGISTRATION_STORE, type RegistrationStore } from '../backend-chat/registration.store.js';
import { SttService } from '../stt/stt.service.js';
import { TtsService } from '../tts/tts.service.js';
import { VoiceSessionRegistry } from '../voice/voice-session.registry.js';

const BACKEND_CHECK_TIMEOUT_MS = 2000;
const BACKEND_CHECK_CACHE_MS = 5000;

@ApiTags('health')
@Controller('health')
export class HealthController {
  private backendCheck?: { at: number; result: Promise<HealthIndicatorResult> };

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly chat: BackendChatService,
    private readonly tts: TtsService,
    private readonly stt: SttService,
    private readonly sessions: VoiceSessionRegistry,
    @Inject(REGISTRATION_STORE) private readonly registrations: RegistrationStore,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers. No dependencies are checked.' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', example: 'ok' } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness: 200 when new sessions can be served (TTS engine up, chat backend reachable), else 503 with details. ' +
      'An unreachable registration store is reported (status "degraded") but does not make the service unready.',
  })
  ready() {
    return this.health.check([
      () => this.checkSessions(),
      () => this.checkTts(),
      () => this.checkBackend(),
      () => this.checkStt(),
      () => this.checkRegistrationStore(),
    ]);
  }

  /** Down while draining for shutdown, so the load balancer stops sending new sessions. */
  private checkSessions(): HealthIndicatorResult {
    const indicator = this.indicators.check('sessions');
    const details = { open: this.sessions.openSessions };
    return this.sessions.isDraining ? indicator.down({ ...details, reason: 'draining for shutdown' }) : indicator.up(details);
  }

  private checkTts(): HealthIndicatorResult {
    const indicator = this.indicators.check('tts');
    const provider = this.tts.describe().find((p) => p.id === this.tts.defaultProvider);
    const details = { provider: this.tts.defaultProvider };
    return provider?.available ? indicator.up(details) : indicator.down({ ...details, reason: provider?.reason ?? 'no TTS provider' });
  }

  /** Local STT being unavailable does not make the service unready: text turns still work. */
  private checkStt(): HealthIndicatorResult {
    const providers = Object.fromEntries(this.stt.describe().map((p) => [p.id, p.available ? 'available' : `unavailable: ${p.reason ?? 'unknown'}`]));
    return this.indicators.check('stt').up({ default_provider: this.stt.defaultProvider ?? 'none', providers });
  }

  /**
   * The registration store is a cache: without it every replica registers directly, so an
   * unreachable Redis is reported as degraded (200), never down (which would take every replica out
   * of the load balancer at once).
   */
  private async checkRegistrationStore(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('registration_store');
    const kind = this.registrations.kind;
    try {
      await this.registrations.ping();
      return indicator.up({ kind, state: 'up' });
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'unreachable';
      return indicator.degraded({ kind, state: 'unreachable', reason: `${reason}; registrations are not shared between replicas` });
    }
  }

  private checkBackend(): Promise<HealthIndicatorResult> {
    const now = Date.now();
    if (!this.backendCheck || now - this.backendCheck.at > BACKEND_CHECK_CACHE_MS) {
      const indicator = this.indicators.check('backend');
      const details = { mode: this.chat.backendKind };
      const result = this.chat
        .ping(AbortSignal.timeout(BACKEND_CHECK_TIMEOUT_MS))
        .then(() => indicator.up(details))
        .catch(() => indicator.down({ ...details, reason: 'chat backend unreachable' }));
      this.backendCheck = { at: now, result };
    }
    return this.backendCheck.result;
  }
}
