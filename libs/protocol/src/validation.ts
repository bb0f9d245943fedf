import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/**
 * Checks a parsed JSON message against its contract class the way the JSON Schemas say: unknown
 * fields are rejected, nested sections are checked. Returns the instance and, if it fails, its first
 * problems with their paths (`stt.vad_threshold: ...; text: ...`).
 */
export function checkContract<T extends object>(cls: new () => T, raw: unknown): { instance: T; problems?: string } {
  const instance = plainToInstance(cls, raw);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, stopAtFirstError: true });
  return errors.length > 0 ? { instance, problems: formatValidationErrors(errors) } : { instance };
}

/** Flattens class-validator errors into `path: reason; path: reason`. */
export function formatValidationErrors(errors: ValidationError[], parent = ''): string {
  const parts: string[] = [];
  const walk = (list: ValidationError[], prefix: string): void => {
    for (const error of list) {
      const path = prefix ? `${prefix}.${error.property}` : error.property;
      for (const reason of Object.values(error.constraints ?? {})) {
        parts.push(reason.includes(error.property) ? reason.replace(error.property, path) : `${path}: ${reason}`);
      }
      if (error.children?.length) walk(error.children, path);
    }
  };
  walk(errors, parent);
  return parts.slice(0, 5).join('; ');
}
