import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';

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

/**
 * Flattens class-validator errors into `path: reason; path: reason`, in words that say what to fix:
 * a missing required field "is required", a quoted number "must be a number, not a string", and an
 * unknown field names the field it probably meant (`registrationId` -> `registration_id`).
 */
export function formatValidationErrors(errors: ValidationError[], parent = ''): string {
  const parts: string[] = [];
  const walk = (list: ValidationError[], prefix: string): void => {
    for (const error of list) {
      const path = prefix ? `${prefix}.${error.property}` : error.property;
      const constraints = error.constraints ?? {};
      const special = explain(error, path);
      if (special) parts.push(special);
      else {
        for (const reason of Object.values(constraints)) {
          parts.push(reason.includes(error.property) ? reason.replace(error.property, path) : `${path}: ${reason}`);
        }
      }
      if (error.children?.length) walk(error.children, path);
    }
  };
  walk(errors, parent);
  return parts.slice(0, 5).join('; ');
}

const NUMERIC_CONSTRAINTS = ['isNumber', 'isInt', 'min', 'max'];

function explain(error: ValidationError, path: string): string | undefined {
  const constraints = Object.keys(error.constraints ?? {});
  if (constraints.length === 0) return undefined;
  if (constraints.includes('whitelistValidation')) {
    const known = knownProperties(error.target);
    const suggestion = closest(error.property, known);
    return `${path} is not a known field${suggestion ? `; did you mean ${suggestion}?` : known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`;
  }
  if (error.value === undefined) return `${path} is required`;
  const declared = declaredConstraints(error.target, error.property);
  const wantsNumber = declared.some((name) => NUMERIC_CONSTRAINTS.includes(name)) || /values: -?\d/.test(error.constraints?.['isIn'] ?? '');
  if (wantsNumber && typeof error.value === 'string') {
    const quoted = error.value.trim() !== '' && Number.isFinite(Number(error.value));
    const choices = error.constraints?.['isIn'] ? `; ${error.constraints['isIn'].replace(error.property, path)}` : '';
    return `${path} must be a number, not a string${quoted ? ` (write ${error.value.trim().slice(0, 20)} without quotes)` : ''}${choices}`;
  }
  if (declared.includes('isString') && typeof error.value !== 'string') {
    return `${path} must be a string (in double quotes), not ${error.value === null ? 'null' : Array.isArray(error.value) ? 'an array' : `a ${typeof error.value}`}`;
  }
  return undefined;
}

/** Names of the built-in constraints declared on a property (`isString`, `isInt`, ...). */
function declaredConstraints(target: object | undefined, property: string): string[] {
  if (!target) return [];
  return getMetadataStorage()
    .getTargetValidationMetadatas(target.constructor, '', true, false)
    .filter((m) => m.propertyName === property)
    .map((m) => m.name ?? '')
    .filter(Boolean);
}

/** Field names a contract class declares (from its validation metadata). */
function knownProperties(target: object | undefined): string[] {
  if (!target) return [];
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(target.constructor, '', true, false);
  return [...new Set(metadatas.map((m) => m.propertyName))].filter((name) => name !== 'type');
}

/** The known name a misspelt one most likely meant: same letters ignoring case and `_`, or within 2 edits. */
function closest(name: string, known: readonly string[]): string | undefined {
  const squash = (value: string) => value.toLowerCase().replace(/[_-]/g, '');
  const exact = known.find((candidate) => squash(candidate) === squash(name));
  if (exact) return exact;
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const [a, b] = [squash(name), squash(candidate)];
    const distance = Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64 ? 99 : editDistance(a, b);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Levenshtein distance (insertions, deletions, substitutions), O(a x b): callers keep the strings short. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
