import { HttpStatus, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { EMULATOR_STATE, type EmulatorState } from './emulator-state.js';
import { upstreamError } from './upstream-errors.js';

/**
 * `xi-api-key` check: the configured key when the emulator has one, else any non-empty key, so a
 * frontend can run against it with ELEVENLABS_API_KEY=anything. Fault `rejectAuth` refuses all.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(EMULATOR_STATE) private readonly state: EmulatorState) {}

  canActivate(context: ExecutionContext): boolean {
    const key = context.switchToHttp().getRequest<Request>().header('xi-api-key');
    const accepted = !this.state.faults.rejectAuth && !!key && (this.state.apiKey === undefined || key === this.state.apiKey);
    if (!accepted) throw upstreamError(HttpStatus.UNAUTHORIZED, { status: 'invalid_api_key', message: 'Invalid API key' });
    return true;
  }
}
