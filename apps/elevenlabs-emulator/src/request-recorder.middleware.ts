import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { EMULATOR_STATE, RecordedRequest, type EmulatorState } from './emulator-state.js';

/** Logs every API request, and how it ended, in EmulatorState.requests. */
@Injectable()
export class RequestRecorder implements NestMiddleware {
  constructor(@Inject(EMULATOR_STATE) private readonly state: EmulatorState) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const path = req.originalUrl.split('?')[0]!;
    const record = new RecordedRequest(req.method, path, { ...req.query }, req.body, req.header('xi-api-key'), performance.now());
    this.state.requests.push(record);
    res.once('close', () => record.finish(res.statusCode, res.writableFinished ? 'completed' : 'aborted'));
    next();
  }
}
