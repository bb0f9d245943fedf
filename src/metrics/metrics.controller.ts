import { Controller, Get, Header, Inject, NotFoundException, Res } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from './metrics.service.js';

export const METRICS_PATH = '/metrics';

@ApiTags('metrics')
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('metrics')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary:
      'Prometheus metrics (text exposition format): sessions, turns and per-stage turn latency, errors by code, upstream retries, ' +
      'worker pool backlog, event-loop lag, process metrics. Served here unless METRICS_PORT is set; then only on that port (same path).',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4.', schema: { type: 'string', example: 'voice_layer_sessions_active{stt_provider="local",tts_provider="local"} 2' } })
  @ApiNotFoundResponse({ description: 'METRICS_PORT is set: metrics are served on that port only.' })
  async scrape(@Res() response: Response): Promise<void> {
    if (this.config.metrics.port !== undefined) throw new NotFoundException(`Metrics are served on port ${this.config.metrics.port} (METRICS_PORT).`);
    response.type(this.metrics.contentType).send(await this.metrics.render());
  }
}
