import { BadRequestException, Catch, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { unprocessable } from './upstream-errors.js';

/** A body that is not JSON gets FastAPI's 422 `json_invalid`, not Nest's 400. */
@Catch(BadRequestException)
export class JsonBodyFilter extends BaseExceptionFilter {
  override catch(exception: BadRequestException, host: ArgumentsHost): void {
    const { cause } = exception;
    const notJson = cause instanceof SyntaxError;
    super.catch(notJson ? unprocessable([{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: cause.message } }]) : exception, host);
  }
}
