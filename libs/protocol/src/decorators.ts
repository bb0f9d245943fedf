import { Type } from 'class-transformer';
import { IsObject, ValidateIf, ValidateNested } from 'class-validator';

/**
 * The field may be left out. Unlike class-validator's `@IsOptional()`, `null` does not count as
 * left out: it is validated like any other value (and fails), exactly as the generated JSON Schema
 * says (the field is not required, and `null` is not of its type).
 */
export function Optional(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}

/** A nested section: a JSON object (not an array) validated as `type`. */
export function Nested(type: () => new () => object): PropertyDecorator {
  return (target, property) => {
    IsObject()(target, property);
    ValidateNested()(target, property);
    Type(type)(target, property);
  };
}

/** JSON Schema keyword for base64 strings (draft-07 `contentEncoding`, which the decorator type lacks). */
export const BASE64: object = { contentEncoding: 'base64' };
