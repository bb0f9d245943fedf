import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { InlineEchoJudges, type EchoChannel, type EchoJudges, type EchoReport } from './session/echo-judges.js';
import { EchoWorkerPool } from './session/echo-worker-pool.js';

/**
 * The sessions' echo detectors (barge-in): in ECHO_WORKERS worker threads, or on the event loop with
 * ECHO_WORKERS=0. A pool that cannot start (it never should) leaves them on the event loop, with a warning.
 */
@Injectable()
export class EchoJudgesService implements EchoJudges, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(EchoJudgesService.name);
  private judges: EchoJudges = new InlineEchoJudges();
  private pool?: EchoWorkerPool;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, @Optional() metrics?: MetricsService) {
    metrics?.watchWorkerPool('echo', () => this.pool?.pendingMessages ?? 0);
  }

  async onModuleInit(): Promise<void> {
    const { workers } = this.config.echo;
    if (workers === 0) return;
    try {
      this.pool = await EchoWorkerPool.start({ threads: workers });
      this.judges = this.pool;
    } catch (error) {
      this.logger.warn(`echo detectors run on the event loop: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }

  open(onReport: (report: EchoReport) => void): EchoChannel {
    return this.judges.open(onReport);
  }
}
