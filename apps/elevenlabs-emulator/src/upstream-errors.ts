import { HttpException, HttpStatus } from '@nestjs/common';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/** ElevenLabs' error detail for everything but validation, sent as `{"detail":{"status","message"}}`. */
export interface UpstreamErrorDetail {
  status: string;
  message: string;
}

export function upstreamError(status: HttpStatus, detail: UpstreamErrorDetail): HttpException {
  return new HttpException({ detail }, status);
}

/** One FastAPI (pydantic v2) validation error item. */
export interface FastApiErrorItem {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** FastAPI's 422 answer: `{"detail":[{type, loc, msg, input}]}`. */
export function unprocessable(items: FastApiErrorItem[]): HttpException {
  return new HttpException({ detail: items }, HttpStatus.UNPROCESSABLE_ENTITY);
}

/** pydantic error types for class-validator constraints; others are `value_error`. */
const ERROR_TYPES: Record<string, string> = {
  isString: 'string_type',
  isNumber: 'float_type',
  isInt: 'int_type',
  isBoolean: 'bool_type',
  isArray: 'list_type',
  isIn: 'enum',
  min: 'greater_than_equal',
  max: 'less_than_equal',
  arrayMaxSize: 'too_long',
  nestedValidation: 'model_type',
};

function toItems(error: ValidationError, loc: Array<string | number>): FastApiErrorItem[] {
  const path = [...loc, /^\d+$/.test(error.property) ? Number(error.property) : error.property];
  if (error.value === undefined) return [{ type: 'missing', loc: path, msg: 'Field required' }];
  const own = Object.entries(error.constraints ?? {}).map(([constraint, msg]) => ({ type: ERROR_TYPES[constraint] ?? 'value_error', loc: path, msg, input: error.value as unknown }));
  return [...own, ...(error.children ?? []).flatMap((child) => toItems(child, path))];
}

/** Validates a request part as FastAPI does, returning its 422 items (none when valid). */
export function validationProblems<T extends object>(cls: ClassConstructor<T>, plain: unknown, location: 'body' | 'query'): { value: T; problems: FastApiErrorItem[] } {
  const value = plainToInstance(cls, plain ?? {});
  // Decorators run bottom-up: DTOs list the type check last, so a wrong type gets one error, as in pydantic.
  const errors = validateSync(value, { whitelist: true, stopAtFirstError: true });
  return { value, problems: errors.flatMap((error) => toItems(error, [location])) };
}
